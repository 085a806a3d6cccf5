package tracker

// The due queue is a binary min-heap of journey slots ordered by due time.
// Each journey remembers its position, so a journey can leave the queue
// from anywhere in O(log n). container/heap would box every slot in an
// interface on each push and pop, which shows at a million journeys.

func (t *Tracker) less(a, b int) bool {
	return t.journeys[t.queue[a]].due < t.journeys[t.queue[b]].due
}

func (t *Tracker) swap(a, b int) {
	t.queue[a], t.queue[b] = t.queue[b], t.queue[a]
	t.journeys[t.queue[a]].heapIdx = int32(a)
	t.journeys[t.queue[b]].heapIdx = int32(b)
}

func (t *Tracker) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !t.less(i, parent) {
			return
		}
		t.swap(i, parent)
		i = parent
	}
}

func (t *Tracker) down(i int) {
	n := len(t.queue)
	for {
		smallest, l, r := i, 2*i+1, 2*i+2
		if l < n && t.less(l, smallest) {
			smallest = l
		}
		if r < n && t.less(r, smallest) {
			smallest = r
		}
		if smallest == i {
			return
		}
		t.swap(i, smallest)
		i = smallest
	}
}

func (t *Tracker) heapPush(slot int32) {
	t.queue = append(t.queue, slot)
	i := len(t.queue) - 1
	t.journeys[slot].heapIdx = int32(i)
	t.up(i)
	if t.journeys[slot].heapIdx == 0 {
		// A new earliest event: a scheduler asleep until the old one
		// must look again.
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

func (t *Tracker) heapRemove(slot int32) {
	i := int(t.journeys[slot].heapIdx)
	last := len(t.queue) - 1
	if i != last {
		t.swap(i, last)
	}
	t.queue = t.queue[:last]
	t.journeys[slot].heapIdx = -1
	if i != last {
		t.down(i)
		t.up(i)
	}
}
