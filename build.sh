#!/usr/bin/env bash
# build.sh: build, test and cross-compile cairn.
#
#   ./build.sh          static binaries for this machine into bin/
#   ./build.sh test     the whole test suite (what .ci/run runs)
#   ./build.sh cross    binaries for linux/amd64, arm64 and arm (GOARM=7) into
#                       bin/<os>-<arch>/, then the storage packages' unit tests
#                       under qemu-user-static for arm64 and arm
#   ./build.sh bench    the benchmarks (not part of the test suite)
#   ./build.sh ref      fetch the reference etcd 3.4.23 (Debian's etcd-server and
#                       etcd-client, unpacked under .ref/etcd) that comparison
#                       tests and tools/bench-compare.sh run against
set -euo pipefail
cd "$(dirname "$0")"

version=$(git describe --always --dirty --tags 2>/dev/null || echo unknown)
ldflags="-s -w -X main.version=${version}"
# Packages whose unit tests run under qemu in `cross`: storage, consensus and store.
cross_test_pkgs=(./wal ./snapshot ./raft ./kv)

have_mains() { [ -n "$(go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./tools/... 2>/dev/null)" ]; }

build() { # build GOOS GOARCH [GOARM] OUTDIR
	local goos=$1 goarch=$2 goarm=$3 out=$4
	mkdir -p "$out"
	if have_mains; then
		CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOARM=$goarm \
			go build -trimpath -ldflags "$ldflags" -o "$out/" ./tools/...
	else
		CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOARM=$goarm go build -trimpath ./...
	fi
}

qemu_for() {
	case $1 in
	arm64) echo qemu-aarch64-static ;;
	arm) echo qemu-arm-static ;;
	esac
}

cross() {
	build linux amd64 "" bin/linux-amd64
	build linux arm64 "" bin/linux-arm64
	build linux arm 7 bin/linux-arm
	echo "cross: built bin/linux-{amd64,arm64,arm}"
	local arch q pkg tdir
	for arch in arm64 arm; do
		q=$(qemu_for $arch)
		if ! command -v "$q" >/dev/null; then
			echo "cross: $q not installed (apt-get install qemu-user-static); skipping $arch tests" >&2
			continue
		fi
		tdir=$(mktemp -d)
		for pkg in "${cross_test_pkgs[@]}"; do
			[ -n "$(ls "$pkg"/*_test.go 2>/dev/null)" ] || continue
			CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOARM=7 go test -c -trimpath -o "$tdir/$(basename "$pkg").test" "$pkg"
			echo "cross: linux/$arch $pkg"
			# Under emulation the suites run in -short mode: the same cases, fewer repetitions.
			(cd "$pkg" && "$q" "$tdir/$(basename "$pkg").test" -test.short -test.count=1 -test.timeout=15m)
		done
		rm -rf "$tdir"
	done
}

# ref_etcd makes the reference etcd 3.4.23 (Debian's etcd-server and
# etcd-client, unpacked, never installed as a service) available to the
# comparison tests through CAIRN_REF_ETCD and CAIRN_REF_ETCDCTL. Without it
# those tests skip and say so.
ref_etcd() {
	if [ -n "${CAIRN_REF_ETCD:-}" ]; then
		return
	fi
	local dir=.ref/etcd
	if [ ! -x "$dir/usr/bin/etcd" ] && command -v apt-get >/dev/null; then
		rm -rf .ref/deb && mkdir -p .ref/deb
		if (cd .ref/deb && apt-get download etcd-server etcd-client >/dev/null 2>&1); then
			for deb in .ref/deb/*.deb; do dpkg -x "$deb" "$dir"; done
		fi
	fi
	if [ -x "$dir/usr/bin/etcd" ]; then
		export CAIRN_REF_ETCD=$PWD/$dir/usr/bin/etcd CAIRN_REF_ETCDCTL=$PWD/$dir/usr/bin/etcdctl
		echo "reference: $("$CAIRN_REF_ETCD" --version | head -1)"
	else
		echo "reference etcd not available (apt-get download etcd-server etcd-client failed): comparison tests skip" >&2
	fi
}

test_all() {
	local bad
	bad=$(gofmt -l .)
	if [ -n "$bad" ]; then
		echo "gofmt needed on:" >&2
		echo "$bad" >&2
		exit 1
	fi
	go vet ./...
	ref_etcd
	go test -count=1 -timeout 20m ./...
	cross
}

case "${1:-build}" in
build) build "$(go env GOOS)" "$(go env GOARCH)" "" bin && echo "built into bin/" ;;
test) test_all ;;
cross) cross ;;
bench) go test -run '^$' -bench . -benchmem ./... ;;
ref) ref_etcd && [ -n "${CAIRN_REF_ETCD:-}" ] ;;
*)
	echo "usage: $0 [build|test|cross|bench|ref]" >&2
	exit 2
	;;
esac
