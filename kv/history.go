package kv

// record is one retained event plus what GetAt and Save need to undo it.
//
// Invariant: records are immutable once appended, and so is the detached
// subtree in removed (nothing can reach it from the live tree).
type record struct {
	ev *Event
	// created is how many missing intermediate directories the operation
	// created above ev.Node.Key (set and create only).
	created int
	// removed is the detached directory of a directory delete or expire,
	// with its whole subtree as it was just before removal.
	removed *node
	// size is the record's accounted size in bytes (see recordSize).
	size int64
}

// recordSize is a deterministic estimate of a record's heap cost: fixed
// struct overhead plus the strings it holds, plus the detached subtree.
func recordSize(r *record) int64 {
	const fixed = 256 // record, Event, two Nodes, value pointers
	sz := int64(fixed + 2*len(r.ev.Node.Key))
	if v := r.ev.Node.Value; v != nil {
		sz += int64(len(*v))
	}
	if p := r.ev.PrevNode; p != nil && p.Value != nil {
		sz += int64(len(*p.Value))
	}
	if r.removed != nil {
		sz += subtreeSize(r.removed)
	}
	return sz
}

func subtreeSize(n *node) int64 {
	sz := int64(nodeOverhead + len(n.name) + len(n.value))
	if n.kids != nil {
		n.kids.each(func(c *node) bool {
			sz += subtreeSize(c)
			return true
		})
	}
	return sz
}

// nodeOverhead is the per-node accounted cost of a detached subtree.
const nodeOverhead = 80

// history is the retained event log: consecutive store indexes
// [first, first+len(recs)-1]. Every index-consuming operation appends
// exactly one record, so the index of recs[i] is first+i.
//
// Invariant: bytes == sum of recs[head:].size.
type history struct {
	recs      []*record // live part is recs[head:]
	head      int
	first     uint64 // index of recs[head]; when empty, the next index
	bytes     int64
	maxEvents int
	maxBytes  int64
	pins      map[uint64]int // Save in progress at index N: keep records > N
}

func (h *history) len() int { return len(h.recs) - h.head }

// last returns the index of the newest record, or first-1 when empty.
func (h *history) last() uint64 { return h.first + uint64(h.len()) - 1 }

// at returns the record for index i, which must be retained.
func (h *history) at(i uint64) *record { return h.recs[h.head+int(i-h.first)] }

// has reports whether index i is retained.
func (h *history) has(i uint64) bool { return i >= h.first && i-h.first < uint64(h.len()) }

func (h *history) append(r *record) {
	if h.len() == 0 {
		h.first = r.ev.Index
	} else if r.ev.Index != h.last()+1 {
		panic("kv: history gap")
	}
	r.size = recordSize(r)
	h.recs = append(h.recs, r)
	h.bytes += r.size
	h.compact()
}

// compact drops the oldest records while the history is over either limit,
// except records a running Save still needs.
func (h *history) compact() {
	minPin := ^uint64(0)
	for n := range h.pins {
		minPin = min(minPin, n)
	}
	for h.len() > 0 && (h.len() > h.maxEvents || h.bytes > h.maxBytes) && h.first <= minPin {
		h.bytes -= h.recs[h.head].size
		h.recs[h.head] = nil
		h.head++
		h.first++
	}
	if h.head > 1024 && h.head > len(h.recs)/2 {
		n := copy(h.recs, h.recs[h.head:])
		clear(h.recs[n:])
		h.recs = h.recs[:n]
		h.head = 0
	}
}

// window returns the first index of the longest suffix ending at index n
// that fits the limits: the history every member holds after applying n,
// whatever pins it had. Save writes exactly this window.
func (h *history) window(n uint64) uint64 {
	start := n + 1
	var count int
	var bytes int64
	for i := n; h.has(i); i-- {
		r := h.at(i)
		if count+1 > h.maxEvents || bytes+r.size > h.maxBytes {
			break
		}
		count++
		bytes += r.size
		start = i
		if i == 0 {
			break
		}
	}
	return start
}

func (h *history) pin(n uint64) {
	if h.pins == nil {
		h.pins = make(map[uint64]int)
	}
	h.pins[n]++
}

func (h *history) unpin(n uint64) {
	if h.pins[n]--; h.pins[n] <= 0 {
		delete(h.pins, n)
	}
	h.compact()
}
