package diagnose

import "time"

// lingerQueue holds state in the order it was queued, which follows packet
// time, so that its head always has the oldest time and expiry need look at
// the head only. STUN transactions, SIP transactions and ICE checks each
// keep one. An item may be queued again with a newer time while its old
// entry still waits: the owner tells a stale entry from a live one.
type lingerQueue[T any] struct {
	entries []lingerEntry[T]
	head    int
}

// lingerEntry is a queued item and the packet time it was queued with.
type lingerEntry[T any] struct {
	item  T
	since time.Time
}

func (q *lingerQueue[T]) push(item T, since time.Time) {
	q.entries = append(q.entries, lingerEntry[T]{item: item, since: since})
}

func (q *lingerQueue[T]) empty() bool { return q.head >= len(q.entries) }

// peek returns the head entry; the queue must not be empty.
func (q *lingerQueue[T]) peek() lingerEntry[T] { return q.entries[q.head] }

// pop removes and returns the head entry; the queue must not be empty. The
// slot is cleared so that the queue keeps nothing closed alive.
func (q *lingerQueue[T]) pop() lingerEntry[T] {
	e := q.entries[q.head]
	q.entries[q.head] = lingerEntry[T]{}
	q.head++
	// Reuse the slice once its dead prefix is the larger part.
	if q.head > 1024 && q.head*2 > len(q.entries) {
		n := copy(q.entries, q.entries[q.head:])
		clear(q.entries[n:])
		q.entries = q.entries[:n]
		q.head = 0
	}
	return e
}
