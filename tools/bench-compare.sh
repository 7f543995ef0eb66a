#!/usr/bin/env bash
# bench-compare.sh: cairn against etcd 3.4 (v2 API), side by side in one run.
#
# Starts a 3-member cluster on loopback, one system at a time and with the
# same flags, runs the same cairn-bench workloads against it, stops it, and
# alternates (etcd, cairn, etcd, cairn, ... for --rounds rounds). Then prints
# one table: the median of each figure for etcd (A), for cairn (B), and the
# ratio cairn/etcd. Besides the workloads it records, per member: RSS when
# idle and after --writes writes, /proc/PID/io write_bytes per write, and
# write_bytes while idle for --idle-seconds; for all members together, the
# bytes and write requests per write that reached the data directory's block
# device (/sys/dev/block, so it counts file system metadata and journal
# writes too); and the binary sizes, the disk's
# raw fdatasync latency (in the data directory) and the loopback round trip.
#
#   tools/bench-compare.sh                       # the full run (about 15 min)
#   tools/bench-compare.sh --duration 5s --rounds 1 --idle-seconds 10 --writes 20000
#   tools/bench-compare.sh --only etcd           # just etcd (e.g. while cairn is broken)
#   tools/bench-compare.sh --profile             # plus a CPU profile of cairn under writes
#
# Options:
#   --duration D       length of each timed workload (default 10s)
#   --rounds N         alternating rounds (default 2)
#   --idle-seconds N   idle disk-write window, first round only (default 60)
#   --writes N         writes before the "after writes" RSS, first round only (default 100000)
#   --watchers N       watchers for the watch workload (default 1000)
#   --watch-writes N   writes in the watch workload (default 200)
#   --value-size N     value bytes (default 256)
#   --snapshot-count N passed to both systems (default 10000)
#   --warm-writes N    before each round's workloads, N writes at 32 clients over 10,000 keys, untimed
#                      (default 0: a fresh cluster). A member that has run a while writes its log into
#                      recycled WAL segments, from about twice --max-wal-segment-size of log on (8 MiB,
#                      25,000 256-byte writes, by default); etcd never recycles its segments.
#   --out DIR          results, logs and data (default a new /tmp/bench-compare.XXXX)
#   --only etcd|cairn  run one system only
#   --profile          after the rounds, run cairn with CAIRNPROFILE set (a CPU profile per member)
#                      under the 32-client write load and print `go tool pprof -top`
# Environment: CAIRN_REF_ETCD, the etcd binary to compare with (default: Debian's etcd-server 3.4.23,
# fetched and unpacked under .ref/ by `./build.sh ref`, which this script runs if needed). Another
# cairn binary works there too: `CAIRN_REF_ETCD=/path/to/old/cairn` compares two builds of cairn
# (A the old, B this tree's), the same workloads, rounds alternating.
#
# Run it on an otherwise idle box: load generator and servers share the CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

duration=10s rounds=2 idle=60 writes=100000 watchers=1000 watch_writes=200 value_size=256
snapcount=10000 out="" only="" profile=0 warm=0
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--idle-seconds) idle=$2; shift ;;
	--writes) writes=$2; shift ;;
	--watchers) watchers=$2; shift ;;
	--watch-writes) watch_writes=$2; shift ;;
	--value-size) value_size=$2; shift ;;
	--snapshot-count) snapcount=$2; shift ;;
	--warm-writes) warm=$2; shift ;;
	--out) out=$2; shift ;;
	--only) only=$2; shift ;;
	--profile) profile=1 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-compare: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
etcd_bin=${CAIRN_REF_ETCD:-$root/.ref/etcd/usr/bin/etcd}
[ -x "$etcd_bin" ] || [ -n "${CAIRN_REF_ETCD:-}" ] || ./build.sh ref >&2 || true
[ -x "$etcd_bin" ] || { echo "bench-compare: no etcd at $etcd_bin (set CAIRN_REF_ETCD, or run ./build.sh ref)" >&2; exit 1; }
[ -n "$out" ] || out=$(mktemp -d /tmp/bench-compare.XXXXXX)
mkdir -p "$out"
out=$(cd "$out" && pwd)
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }

# --- build -----------------------------------------------------------------
# build.sh builds every tool; if another tool is mid-change and does not
# compile, build the two we need the same way (static, trimmed, stripped).
if ./build.sh >"$out/build.log" 2>&1; then
	cairn_bin=$root/bin/cairn bench=$root/bin/cairn-bench
else
	log "build.sh failed (see $out/build.log); building cairn and cairn-bench alone with its flags"
	mkdir -p "$out/bin"
	ver=$(git describe --always --dirty --tags 2>/dev/null || echo unknown)
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$ver" -o "$out/bin/" ./tools/cairn ./tools/cairn-bench
	cairn_bin=$out/bin/cairn bench=$out/bin/cairn-bench
fi

# --- helpers ---------------------------------------------------------------
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap cleanup EXIT

# free_ports N: N loopback ports nobody listens on, from a random base.
free_ports() {
	local n=$1 p=$((20000 + RANDOM % 20000)) got=() used
	used=$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)
	while [ ${#got[@]} -lt "$n" ]; do
		grep -qx "$p" <<<"$used" || got+=("$p")
		p=$((p + 1))
	done
	echo "${got[@]}"
}

# metric FILE LABEL VALUE UNIT: append a value line for `cairn-bench report`.
metric() { printf '{"label":"%s","value":%s,"unit":"%s"}\n' "$2" "$3" "$4" >>"$1"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
wbytes() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }
# devstat: "writes sectors" so far of the block device holding the data
# directory (/sys/dev/block/MAJ:MIN/stat), or nothing where there is none
# (tmpfs, overlay). Unlike write_bytes it sees every block the file system
# writes: inodes, extent trees, journal commits.
devstat() {
	local d
	d=$(stat -c '%d' "$out/data") || return 0
	local f=/sys/dev/block/$(((d >> 8) & 0xfff)):$(((d & 0xff) | ((d >> 12) & 0xfff00)))/stat
	[ -r "$f" ] && awk '{print $5, $7}' "$f"
	return 0
}

# start_cluster SYSTEM BINARY ROUND: three members; sets members, eps, leader_ep.
start_cluster() {
	local sys=$1 bin=$2 round=$3 ports i cluster=""
	read -r -a ports <<<"$(free_ports 6)"
	members=() eps=()
	for i in 1 2 3; do
		cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[$((i + 2))]}"
	done
	local dir=$out/data/$sys-r$round
	rm -rf "$dir"
	mkdir -p "$dir"
	for i in 1 2 3; do
		local cp=${ports[$((i - 1))]} pp=${ports[$((i + 2))]}
		"$bin" --enable-v2=true --name "m$i" --data-dir "$dir/m$i" \
			--listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
			--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
			--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$sys-$round" \
			--snapshot-count "$snapcount" --heartbeat-interval 100 --election-timeout 1000 --log-level warn \
			>"$out/$sys-r$round-m$i.log" 2>&1 &
		pids+=($!)
		members+=($!)
		eps+=("http://127.0.0.1:$cp")
	done
	# Wait (bounded) until every member reports healthy and a leader is known.
	local tries ok
	for tries in $(seq 1 300); do
		ok=0
		for i in 0 1 2; do
			kill -0 "${members[$i]}" 2>/dev/null || { log "$sys m$((i + 1)) exited; see $out/$sys-r$round-m$((i + 1)).log"; return 1; }
			curl -fsS -m 1 "${eps[$i]}/health" 2>/dev/null | grep -q true && ok=$((ok + 1))
		done
		[ $ok = 3 ] && break
		sleep 0.2
	done
	[ $ok = 3 ] || { log "$sys cluster not healthy after 60 s"; return 1; }
	leader_ep=$(curl -fsS -m 2 "${eps[0]}/v2/members/leader" | sed -n 's/.*"clientURLs":\["\([^"]*\)".*/\1/p' || true)
	[ -n "$leader_ep" ] || leader_ep=${eps[0]}
}

stop_cluster() { cleanup; }

# cpu_ticks: user+system clock ticks used so far by all members together.
cpu_ticks() {
	local p t=0
	for p in "${members[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo $t
}
clk_tck=$(getconf CLK_TCK)

# bench RESULTS LABEL ARGS...: one cairn-bench run, appended as a JSON line,
# followed by the members' CPU time per operation (all three together).
bench() {
	local file=$1 label=$2 t0 t1 ops
	shift 2
	log "  $label: cairn-bench $*"
	t0=$(cpu_ticks)
	if ! "$bench" "$@" --label "$label" --json --quiet --value-size "$value_size" >>"$file" 2>>"$out/bench-errors.log"; then
		log "  $label failed (see $out/bench-errors.log)"
		return 0
	fi
	t1=$(cpu_ticks)
	ops=$(tail -n 1 "$file" | sed -n 's/.*"ops":\([0-9]*\).*/\1/p')
	if [ -n "$ops" ] && [ "$ops" -gt 0 ]; then
		metric "$file" "${label}_server_cpu_us_per_op" \
			"$(awk -v a="$t0" -v b="$t1" -v n="$ops" -v hz="$clk_tck" 'BEGIN {printf "%.1f", (b - a) * 1e6 / hz / n}')" us
	fi
}

# --- calibration -----------------------------------------------------------
mkdir -p "$out/data"
calib=$out/calibration.txt
{
	echo "fdatasync of 2300-byte appends in $out/data:"
	"$bench" fsync --dir "$out/data" --total 2000 --size 2300
	echo "loopback TCP round trip:"
	"$bench" rtt --total 20000
} >"$calib"

# --- rounds ----------------------------------------------------------------
run_system() { # SYSTEM BINARY ROUND
	local sys=$1 bin=$2 round=$3 res=$out/$1.jsonl i
	log "round $round: $sys"
	start_cluster "$sys" "$bin" "$round" || return 1
	local all leader_first
	all=$(IFS=,; echo "${eps[*]}")
	leader_first="$leader_ep,$(IFS=,; for e in "${eps[@]}"; do [ "$e" != "$leader_ep" ] && printf '%s,' "$e"; done)"
	leader_first=${leader_first%,}
	sleep 2 # let start-up writes settle before measuring idle state
	if [ "$round" = 1 ]; then
		local w0=() w1=()
		for i in 0 1 2; do
			metric "$res" "rss_idle_m$((i + 1))" "$(rss_kib "${members[$i]}")" KiB
			w0+=("$(wbytes "${members[$i]}")")
		done
		log "  idle for ${idle}s"
		sleep "$idle"
		for i in 0 1 2; do
			w1+=("$(wbytes "${members[$i]}")")
			metric "$res" "idle_write_bytes_per_s_m$((i + 1))" \
				"$(awk -v a="${w0[$i]}" -v b="${w1[$i]}" -v s="$idle" 'BEGIN {printf "%.1f", (b - a) / s}')" B/s
		done
	fi
	if [ "$warm" -gt 0 ]; then
		log "  warming up: $warm writes"
		"$bench" put --endpoints "$leader_ep" --clients 32 --total "$warm" --prefix /warm --keys 10000 \
			--value-size "$value_size" --quiet >>"$out/warm.log" 2>&1 || log "  warm-up failed (see $out/warm.log)"
	fi
	bench "$res" put_c1 put --endpoints "$leader_ep" --clients 1 --duration "$duration"
	local before=() after=() ops dev0 dev1
	for i in 0 1 2; do before+=("$(wbytes "${members[$i]}")"); done
	dev0=$(devstat)
	bench "$res" put_c32 put --endpoints "$leader_ep" --clients 32 --duration "$duration"
	dev1=$(devstat)
	for i in 0 1 2; do after+=("$(wbytes "${members[$i]}")"); done
	ops=$(grep '"label":"put_c32".*"ops":' "$res" | tail -n 1 | sed -n 's/.*"ops":\([0-9]*\).*/\1/p')
	for i in 0 1 2; do
		[ -n "$ops" ] && [ "$ops" -gt 0 ] && metric "$res" "disk_bytes_per_write_m$((i + 1))" \
			"$(awk -v a="${before[$i]}" -v b="${after[$i]}" -v n="$ops" 'BEGIN {printf "%.1f", (b - a) / n}')" B
	done
	if [ -n "$dev0" ] && [ -n "$dev1" ] && [ -n "$ops" ] && [ "$ops" -gt 0 ]; then
		metric "$res" device_bytes_per_write \
			"$(awk -v a="$dev0" -v b="$dev1" -v n="$ops" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.1f", (y[2] - x[2]) * 512 / n}')" B
		metric "$res" device_writes_per_write \
			"$(awk -v a="$dev0" -v b="$dev1" -v n="$ops" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.3f", (y[1] - x[1]) / n}')" req
	fi
	bench "$res" get_c32 get --endpoints "$all" --clients 32 --keys 1000 --duration "$duration"
	bench "$res" qget_c32 qget --endpoints "$all" --clients 32 --keys 1000 --duration "$duration"
	bench "$res" cas_c32_k4 cas --endpoints "$leader_ep" --clients 32 --keys 4 --duration "$duration"
	bench "$res" "watch_w$watchers" watch --endpoints "$leader_first" --watchers "$watchers" --total "$watch_writes" --timeout 5s
	if [ "$round" = 1 ]; then
		bench "$res" "fill_$writes" put --endpoints "$leader_ep" --clients 32 --total "$writes" --prefix /fill --keys 100000
		sleep 2
		for i in 0 1 2; do
			metric "$res" "rss_after_writes_m$((i + 1))" "$(rss_kib "${members[$i]}")" KiB
		done
		local du
		du=$(du -sk "$out/data/$sys-r$round" | awk '{print $1}')
		metric "$res" data_dir_total "$du" KiB
	fi
	stop_cluster
	# Not needed any more; frees the disk for the next system.
	rm -rf "$out/data/$sys-r$round"
}

: >"$out/etcd.jsonl"
: >"$out/cairn.jsonl"
metric "$out/etcd.jsonl" binary_size "$(stat -c %s "$etcd_bin")" B
metric "$out/cairn.jsonl" binary_size "$(stat -c %s "$cairn_bin")" B
for round in $(seq 1 "$rounds"); do
	[ "$only" = cairn ] || run_system etcd "$etcd_bin" "$round" || log "etcd round $round failed"
	[ "$only" = etcd ] || run_system cairn "$cairn_bin" "$round" || log "cairn round $round failed"
done

if [ "$profile" = 1 ]; then
	log "profile: cairn under put_c32 for $duration"
	# Each member writes its own profile: CAIRNPROFILE is set per process.
	start_cluster_prof() {
		local ports i cluster=""
		read -r -a ports <<<"$(free_ports 6)"
		for i in 1 2 3; do cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[$((i + 2))]}"; done
		rm -rf "$out/data/prof"
		for i in 1 2 3; do
			local cp=${ports[$((i - 1))]} pp=${ports[$((i + 2))]}
			CAIRNPROFILE=$out/cpu-m$i.pprof "$cairn_bin" --name "m$i" --data-dir "$out/data/prof/m$i" \
				--listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
				--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
				--initial-cluster "$cluster" --initial-cluster-token bench-prof --snapshot-count "$snapcount" \
				>"$out/prof-m$i.log" 2>&1 &
			pids+=($!)
			eps+=("http://127.0.0.1:$cp")
		done
	}
	eps=()
	start_cluster_prof
	for t in $(seq 1 300); do
		l=$(curl -fsS -m 1 "${eps[0]}/v2/members/leader" 2>/dev/null | sed -n 's/.*"clientURLs":\["\([^"]*\)".*/\1/p' || true)
		[ -n "$l" ] && break
		sleep 0.2
	done
	"$bench" put --endpoints "$l" --clients 32 --duration "$duration" --quiet | tee "$out/profile-put.txt"
	cleanup
	for i in 1 2 3; do
		role=follower
		[ "${eps[$((i - 1))]}" = "$l" ] && role=leader
		echo "== member m$i ($role)" >>"$out/profile-top.txt"
		go tool pprof -top -nodecount=35 "$out/cpu-m$i.pprof" >>"$out/profile-top.txt" 2>&1 || true
	done
	log "profiles: $out/cpu-m*.pprof, top: $out/profile-top.txt"
fi

# --- report ----------------------------------------------------------------
{
	echo "# bench-compare $(date -u +%Y-%m-%dT%H:%MZ)  rounds=$rounds duration=$duration value=${value_size}B snapshot-count=$snapcount warm-writes=$warm"
	echo "# box: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# disk and loopback (this box):"
	grep -v '^workload' "$calib"
	echo
	echo "# A = $etcd_bin ($("$etcd_bin" --version | head -n 1)), B = cairn; figures are medians over rounds"
	"$bench" report "$out/etcd.jsonl" "$out/cairn.jsonl"
} | tee "$out/report.txt"
log "results in $out (report.txt, etcd.jsonl, cairn.jsonl, logs)"
