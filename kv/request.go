package kv

import (
	"encoding/binary"
	"fmt"
)

// Op is the kind of a Request, mirroring the HTTP method etcd puts in its
// log entries; Apply picks the store operation from the Op and the
// condition fields exactly as etcd's applyRequest does (spec 1.3).
type Op uint8

const (
	opInvalid Op = iota
	// OpPut is Set, Create (PrevExist false), Update (PrevExist true, no
	// condition) or CompareAndSwap (a PrevValue or PrevIndex condition).
	OpPut
	// OpPost is an in-order (unique) Create: the key is Path plus
	// "/%020d" of the new index.
	OpPost
	// OpDelete is Delete, or CompareAndDelete with a condition.
	OpDelete
	// OpGet is a linearizable (quorum) Get that went through the log. It
	// changes nothing and consumes no index.
	OpGet
	// OpExpire deletes every node whose expiration is <= Time (etcd's
	// SYNC). Only Time is meaningful.
	OpExpire
	opLimit
)

var opNames = [...]string{"invalid", "PUT", "POST", "DELETE", "GET", "EXPIRE"}

func (o Op) String() string {
	if o < opLimit {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// PrevExist is the tri-state prevExist parameter.
type PrevExist uint8

const (
	PrevExistUnset PrevExist = iota
	PrevExistTrue
	PrevExistFalse
)

// Request is one replicated store operation: the payload of a raft entry.
// It carries its own time so that applying it is deterministic.
type Request struct {
	Op    Op
	Path  string
	Value string
	Dir   bool
	// PrevValue "" and PrevIndex 0 mean "no condition", as in etcd.
	PrevValue string
	PrevIndex uint64
	PrevExist PrevExist
	// HasTTL says a TTL was given. Without it the node becomes (or stays)
	// permanent: that is how `ttl=` with prevExist=true removes a TTL.
	HasTTL bool
	// TTL in seconds, >= 0; 0 with HasTTL expires at the next Expire.
	TTL       int64
	Refresh   bool
	Recursive bool
	Sorted    bool
	// Time is unix nanoseconds stamped by the leader when proposing. TTLs
	// count from it and OpExpire expires everything due at it.
	Time int64
}

const requestVersion = 1

const (
	reqFlagDir = 1 << iota
	reqFlagHasTTL
	reqFlagRefresh
	reqFlagRecursive
	reqFlagSorted
	reqFlagAll = 1<<iota - 1
)

// maxTTL keeps Time + TTL seconds from overflowing int64.
const maxTTL = 1 << 32

// Validate checks the invariants of a request; Apply and UnmarshalRequest
// call it. The error wraps ErrInvalidRequest.
func (r *Request) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	switch {
	case r.Op <= opInvalid || r.Op >= opLimit:
		return bad("unknown op %d", r.Op)
	case r.PrevExist > PrevExistFalse:
		return bad("unknown prevExist %d", r.PrevExist)
	case r.TTL < 0 || r.TTL > maxTTL:
		return bad("ttl %d out of range", r.TTL)
	case !r.HasTTL && r.TTL != 0:
		return bad("ttl %d without HasTTL", r.TTL)
	case r.Time < 0:
		return bad("negative time %d", r.Time)
	case r.Op != OpExpire && r.Path == "":
		return bad("%s without a path", r.Op)
	}
	return nil
}

// AppendRequest appends the binary encoding of r to buf:
//
//	version byte (1), op byte, flags byte, prevExist byte,
//	path, value, prevValue (uvarint length + bytes each),
//	prevIndex (uvarint), ttl (uvarint), time (varint).
func AppendRequest(buf []byte, r *Request) []byte {
	var flags byte
	if r.Dir {
		flags |= reqFlagDir
	}
	if r.HasTTL {
		flags |= reqFlagHasTTL
	}
	if r.Refresh {
		flags |= reqFlagRefresh
	}
	if r.Recursive {
		flags |= reqFlagRecursive
	}
	if r.Sorted {
		flags |= reqFlagSorted
	}
	buf = append(buf, requestVersion, byte(r.Op), flags, byte(r.PrevExist))
	buf = appendString(buf, r.Path)
	buf = appendString(buf, r.Value)
	buf = appendString(buf, r.PrevValue)
	buf = binary.AppendUvarint(buf, r.PrevIndex)
	buf = binary.AppendUvarint(buf, uint64(r.TTL))
	buf = binary.AppendVarint(buf, r.Time)
	return buf
}

// UnmarshalRequest decodes and validates a request encoded by
// AppendRequest. All of buf must be consumed and varints must be minimal,
// so every accepted input has exactly one encoding. Strings are copied, so buf
// may be reused afterwards. Errors wrap ErrDecode or ErrInvalidRequest.
func UnmarshalRequest(buf []byte) (Request, error) {
	d := decoder{buf: buf}
	var r Request
	if v := d.byte(); d.err == nil && v != requestVersion {
		d.fail("unknown request version %d", v)
	}
	r.Op = Op(d.byte())
	flags := d.byte()
	if d.err == nil && flags&^reqFlagAll != 0 {
		d.fail("unknown flags %#x", flags)
	}
	r.Dir = flags&reqFlagDir != 0
	r.HasTTL = flags&reqFlagHasTTL != 0
	r.Refresh = flags&reqFlagRefresh != 0
	r.Recursive = flags&reqFlagRecursive != 0
	r.Sorted = flags&reqFlagSorted != 0
	r.PrevExist = PrevExist(d.byte())
	r.Path = d.string()
	r.Value = d.string()
	r.PrevValue = d.string()
	r.PrevIndex = d.uvarint()
	ttl := d.uvarint()
	if d.err == nil && ttl > maxTTL {
		d.fail("ttl %d out of range", ttl)
	}
	r.TTL = int64(ttl)
	r.Time = d.varint()
	if err := d.finish(); err != nil {
		return Request{}, err
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decoder reads the varint encodings of this package; the first error
// sticks and later reads return zero values.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at offset %d: %s", ErrDecode, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.buf) {
		d.fail("truncated")
		return 0
	}
	b := d.buf[d.off]
	d.off++
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 || (n > 1 && d.buf[d.off+n-1] == 0) {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 || (n > 1 && d.buf[d.off+n-1] == 0) {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.buf)-d.off) {
		d.fail("string length %d exceeds remaining %d bytes", n, len(d.buf)-d.off)
		return ""
	}
	s := string(d.buf[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.buf) {
		d.fail("%d trailing bytes", len(d.buf)-d.off)
	}
	return d.err
}
