module cairn

go 1.26.0

require (
	github.com/godbus/dbus/v5 v5.2.4
	github.com/klauspost/compress v1.20.4
	golang.org/x/sys v0.50.0
)
