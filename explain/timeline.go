package explain

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// marker is one kind of mark on the timeline, as its legend shows it.
// Its shape is named, not a plotting library's glyph, and its size is in
// points: the timeline's data needs no plotting library, so that the
// playground's WebAssembly, which draws the timeline in the page, links
// none (draw.go, which writes the PNG and SVG, is left out of that build).
type marker struct {
	name  string
	shape glyph
	color color.Color
	size  float64 // the glyph's radius, or a span's width, in points
}

// glyph is the shape of a mark, as a page names it.
type glyph string

// The shapes of the marks; a span has none.
const (
	glyphRing     glyph = "ring"
	glyphCircle   glyph = "circle"
	glyphTriangle glyph = "triangle"
	glyphPyramid  glyph = "pyramid"
	glyphSquare   glyph = "square"
	glyphBox      glyph = "box"
	glyphCross    glyph = "cross"
	glyphPlus     glyph = "plus"
)

// xy is a point of the timeline: x in milliseconds, y the lane's value.
type xy struct{ X, Y float64 }

// The marks of the timeline, in legend order.
var (
	mPublish = marker{"publish (a copy of the event)", glyphRing, color.RGBA{90, 90, 90, 255}, 4}
	mDeliver = marker{"delivery received", glyphTriangle, color.RGBA{31, 119, 180, 255}, 4.5}
	mEffect  = marker{"effect committed", glyphCircle, color.RGBA{44, 160, 44, 255}, 4.5}
	mID      = marker{"id committed (processed ids)", glyphBox, color.RGBA{44, 160, 44, 255}, 4}
	mKeySet  = marker{"Redis key set", glyphSquare, color.RGBA{23, 190, 207, 255}, 4}
	mCall    = marker{"store's answer received", glyphCircle, color.RGBA{150, 150, 150, 255}, 2.5}
	mUnheard = marker{"call served, answer never received", glyphRing, color.RGBA{120, 120, 120, 255}, 3.5}
	mApplied = marker{"handler returned applied", glyphCircle, color.RGBA{31, 119, 180, 255}, 2.5}
	mSkip    = marker{"skipped as a duplicate", glyphBox, color.RGBA{255, 127, 14, 255}, 4.5}
	mRetry   = marker{"asked to retry later", glyphRing, color.RGBA{188, 189, 34, 255}, 4}
	mFail    = marker{"timeout or handler error", glyphPyramid, color.RGBA{214, 39, 40, 255}, 4.5}
	mAck     = marker{"ack reached the broker", glyphSquare, color.RGBA{0, 100, 0, 255}, 4}
	mAckLost = marker{"ack lost", glyphCross, color.RGBA{255, 127, 14, 255}, 5}
	mRequeue = marker{"back in the queue", glyphPyramid, color.RGBA{148, 103, 189, 255}, 4.5}
	mClosed  = marker{"back at the head of the queue: channel closed", glyphPyramid, color.RGBA{140, 86, 75, 255}, 4.5}
	mDead    = marker{"dead-lettered (max deliveries)", glyphBox, color.RGBA{0, 0, 0, 255}, 5}
	mCrash   = marker{"crash", glyphCross, color.RGBA{214, 39, 40, 255}, 6}
	mLeave   = marker{"graceful leave (rebalance)", glyphCross, color.RGBA{127, 127, 127, 255}, 6}
	mRestart = marker{"restart (empty memory)", glyphPlus, color.RGBA{44, 160, 44, 255}, 6}
	mStart   = marker{"late start (scale-out)", glyphPlus, color.RGBA{31, 119, 180, 255}, 6}
	mKeyGone = marker{"Redis key expired, deleted or lost", glyphCross, color.RGBA{148, 103, 189, 255}, 5}
	// The log's: a commit is its ack; the group's rebalances and fences.
	mCommit     = marker{"commit accepted", glyphSquare, color.RGBA{0, 100, 0, 255}, 4}
	mCommitLost = marker{"commit lost", glyphCross, color.RGBA{255, 127, 14, 255}, 5}
	mFenced     = marker{"commit fenced (effects are not)", glyphBox, color.RGBA{214, 39, 40, 255}, 5}
	mRebalance  = marker{"rebalance (a generation ends)", glyphPyramid, color.RGBA{148, 103, 189, 255}, 4.5}
	// Events sent on: the relay's publishes, the downstream consumer's
	// handlings.
	mRelayPub  = marker{"relay's publish reached the downstream topic", glyphRing, color.RGBA{31, 119, 180, 255}, 4}
	mDownApply = marker{"downstream event applied", glyphCircle, color.RGBA{44, 160, 44, 255}, 4}
	mDownSkip  = marker{"downstream copy skipped", glyphBox, color.RGBA{255, 127, 14, 255}, 4.5}
	mGhost     = marker{"ghost applied downstream", glyphBox, color.RGBA{214, 39, 40, 255}, 5}
	allMarks   = []*marker{&mPublish, &mDeliver, &mCall, &mUnheard, &mEffect, &mID, &mKeySet, &mApplied, &mSkip, &mRetry, &mFail, &mAck, &mAckLost, &mCommit, &mCommitLost, &mFenced, &mRequeue, &mClosed, &mDead, &mRebalance, &mCrash, &mLeave, &mRestart, &mStart, &mKeyGone,
		&mRelayPub, &mDownApply, &mDownSkip, &mGhost}
	spanOwn   = marker{"owns partitions (p1,2 g3)", "", color.NRGBA{31, 119, 180, 70}, 5}
	spanGone  = marker{"not running (left, or not started yet)", "", color.NRGBA{127, 127, 127, 60}, 9}
	spanCut   = marker{"cut off by a partition", "", color.NRGBA{214, 39, 40, 90}, 9}
	spanStall = marker{"stalled (slow)", "", color.NRGBA{255, 127, 14, 110}, 9}
	spanPause = marker{"paused whole (zombie)", "", color.NRGBA{140, 86, 75, 120}, 9}
	spanDown  = marker{"Redis down", "", color.NRGBA{148, 103, 189, 110}, 9}
	allSpans  = []*marker{&spanOwn, &spanGone, &spanCut, &spanStall, &spanPause, &spanDown}
)

// timeline is what the picture shows: points and spans per lane.
type timeline struct {
	lanes  []string
	points map[*marker][]xy
	spans  map[*marker][][2]xy
	labels []label
	// notes are small texts under a lane: on the log, the partitions an
	// instance owns from the note's time on.
	notes []label
	scale *gapScale
}

type label struct {
	x, y float64
	text string
}

// lane numbers: instances first, top to bottom, then the broker and the
// stores. The y value of lane k is -k.
func (t *timeline) instLane(i int32) float64 { return -float64(i) }

// lane is the y value of the lane called name, NaN if there is none (no
// Redis lane for a strategy that does not use it).
func (t *timeline) lane(name string) float64 {
	if i := slices.Index(t.lanes, name); i >= 0 {
		return -float64(i)
	}
	return math.NaN()
}

func (t *timeline) point(m *marker, x, y float64) {
	if !math.IsNaN(y) {
		t.points[m] = append(t.points[m], xy{X: x, Y: y})
	}
}

func (t *timeline) span(m *marker, x0, x1, y float64) {
	if !math.IsNaN(y) {
		t.spans[m] = append(t.spans[m], [2]xy{{X: x0, Y: y}, {X: x1, Y: y}})
	}
}

// buildTimeline gathers the marks of the story's run from its facts.
func buildTimeline(s *Story) *timeline {
	f := s.a.facts
	n := s.Config.Instances
	t := &timeline{points: map[*marker][]xy{}, spans: map[*marker][][2]xy{}}
	for i := 0; i < n; i++ {
		t.lanes = append(t.lanes, fmt.Sprintf("instance %d", i))
	}
	t.lanes = append(t.lanes, actorBroker)
	if usesRedis(s.Config.Strategy) {
		t.lanes = append(t.lanes, actorRedis)
	}
	t.lanes = append(t.lanes, actorDB)
	if st, _ := strategies.Lookup(s.Config.Strategy); st.Needs.Has(strategies.NeedsPublisher) {
		if st.Relay != nil {
			t.lanes = append(t.lanes, actorRelay)
		}
		t.lanes = append(t.lanes, actorDownstream)
	}
	broker, redis, db := t.lane(actorBroker), t.lane(actorRedis), t.lane(actorDB)
	x := func(ns int64) float64 { return ms(ns) }
	for _, k := range f.RelayPublishes {
		t.point(&mRelayPub, x(f.Trace[k].At), t.lane(actorRelay))
	}
	for _, da := range f.Down {
		m := &mDownApply
		switch {
		case da.Applied && !da.Committed:
			m = &mGhost
		case !da.Applied:
			m = &mDownSkip
		}
		t.point(m, x(da.At), t.lane(actorDownstream))
	}

	for id := 1; id < len(f.Events); id++ {
		e := &f.Events[id]
		for _, p := range e.Applications {
			t.point(&mEffect, x(p.At), db)
			t.point(&mEffect, x(p.At), t.instLane(p.Inst))
		}
		for _, tx := range e.IDCommits {
			t.point(&mID, x(f.Txs[tx].End), db)
		}
	}
	end := f.LastRecord()
	for k, key := range f.Keys {
		t.point(&mKeySet, x(key.At), redis)
		if exp := f.Expiry(k); exp >= 0 && exp <= end {
			t.point(&mKeyGone, x(exp), redis)
		}
		if key.Lost >= 0 && key.Expires > f.Outages[key.Lost].At {
			t.point(&mKeyGone, x(f.Outages[key.Lost].At), redis)
		}
		if key.EndCall != 0 && f.Calls[key.EndCall].Op == run.Del {
			t.point(&mKeyGone, x(key.End(f)), redis)
		}
	}
	for _, m := range f.Messages[1:] {
		t.point(&mPublish, x(m.At), broker)
	}
	for _, a := range f.Attempts {
		t.point(&mDeliver, x(a.At), t.instLane(a.Inst))
		switch {
		case a.EndRec < 0:
		case a.Outcome == run.Applied:
			t.point(&mApplied, x(a.End), t.instLane(a.Inst))
		case a.Outcome == run.Skipped:
			t.point(&mSkip, x(a.End), t.instLane(a.Inst))
		case a.Outcome == run.RetryLater:
			t.point(&mRetry, x(a.End), t.instLane(a.Inst))
		default:
			t.point(&mFail, x(a.End), t.instLane(a.Inst))
		}
	}
	for k := 1; k < len(f.Calls); k++ {
		c := &f.Calls[k]
		// An answer is drawn where it was received: on the instance's
		// lane when its reply arrived; a call its store served whose
		// answer never reached the instance (it had crashed, or given
		// up) on the store's lane, where it happened.
		switch {
		case c.ReplyRec >= 0:
			t.point(&mCall, x(f.Trace[c.ReplyRec].At), t.instLane(c.Inst))
		case c.ServeRec >= 0:
			t.point(&mUnheard, x(c.Served), t.storeLane(c.Op))
		}
		if c.TimeoutRec >= 0 {
			t.point(&mFail, x(c.TimedOut), t.instLane(c.Inst))
		}
	}
	ack, ackLost := &mAck, &mAckLost
	if f.Group != nil {
		ack, ackLost = &mCommit, &mCommitLost
		groupTimeline(t, f)
	}
	for _, a := range f.Acks {
		if a.AcceptedRec >= 0 {
			t.point(ack, x(a.Accepted), broker)
		}
		if a.LostRec >= 0 {
			t.point(ackLost, x(a.At), broker)
		}
	}
	for _, r := range f.Requeues {
		// A channel-closed requeue has its own glyph: the message went
		// back at the head of the queue, with no deadline passing.
		m := &mRequeue
		if r.Cause == run.ChannelClosed {
			m = &mClosed
		}
		t.point(m, x(r.At), broker)
	}
	for _, d := range f.DeadLetters {
		t.point(&mDead, x(d.At), broker)
	}
	for _, c := range f.Crashes {
		t.point(&mCrash, x(c.At), t.instLane(c.Inst))
		if c.RestartRec >= 0 {
			t.point(&mRestart, x(c.Restart), t.instLane(c.Inst))
		}
	}
	for _, st := range f.Stalls {
		m := &spanStall
		if st.Paused {
			m = &spanPause
		}
		t.span(m, x(st.At), x(st.At+st.Dur), t.instLane(st.Inst))
	}
	for _, l := range f.Leaves {
		if !l.Stops() {
			continue
		}
		t.point(&mLeave, x(l.At), t.instLane(l.Inst))
		to := end
		if l.RestartRec >= 0 {
			to = l.Restart
			t.point(&mRestart, x(l.Restart), t.instLane(l.Inst))
		}
		t.span(&spanGone, x(l.At), x(to), t.instLane(l.Inst))
	}
	if l := f.Late; l != nil && l.At <= end {
		t.point(&mStart, x(l.At), t.instLane(l.Inst))
		t.span(&spanGone, 0, x(l.At), t.instLane(l.Inst))
	}
	for i := int32(0); int(i) < n; i++ {
		for _, sp := range f.CutSpans(i) {
			t.span(&spanCut, x(sp.From), x(sp.To), t.instLane(i))
		}
	}
	for _, sp := range f.OutageSpans() {
		t.span(&spanDown, x(sp.From), x(sp.To), redis)
	}
	// Step numbers beside the marks they tell; steps close together on
	// one lane share a label.
	t.scale = newGapScale(t.xs())
	near := 0.012
	for _, st := range s.Steps {
		y, ok := t.stepLane(st, f)
		if !ok {
			continue
		}
		x := t.stepAt(st, f)
		for j := len(t.labels) - 1; j >= 0; j-- {
			if l := &t.labels[j]; l.y == y && math.Abs(t.scale.at(l.x)-t.scale.at(x)) <= near {
				l.text += fmt.Sprintf(",%d", st.N)
				ok = false
				break
			}
		}
		if ok {
			t.labels = append(t.labels, label{x: x, y: y, text: fmt.Sprint(st.N)})
		}
	}
	return t
}

// stepAt is where a step's label goes on the time axis: at its mark, which
// for a call's answer that reached its instance is when it arrived.
func (t *timeline) stepAt(st Step, f *Facts) float64 {
	if st.Record >= 0 && st.Record < len(f.Trace) {
		// The relay's calls are not the facts' (downstream.go).
		if r := &f.Trace[st.Record]; r.Kind == run.Serve && int(r.Call) < len(f.Calls) && f.Calls[r.Call].ID == r.Call {
			if c := &f.Calls[r.Call]; c.ReplyRec >= 0 && st.Inst >= 0 {
				return ms(f.Trace[c.ReplyRec].At)
			}
		}
	}
	return ms(int64(st.At))
}

// storeLane is the lane of the store that serves op.
func (t *timeline) storeLane(op run.Op) float64 {
	switch op.Store() {
	case run.Redis:
		return t.lane(actorRedis)
	case run.Broker:
		return t.lane(actorBroker) // a publish to the downstream topic
	}
	return t.lane(actorDB)
}

// stepLane is the lane a step's label goes on: the lane of what the step
// tells, which for a call served after its instance crashed or gave up is
// the store's.
func (t *timeline) stepLane(st Step, f *Facts) (float64, bool) {
	if st.Record >= 0 && st.Record < len(f.Trace) {
		if r := &f.Trace[st.Record]; r.Kind == run.Serve && int(r.Call) < len(f.Calls) && f.Calls[r.Call].ID == r.Call {
			if c := &f.Calls[r.Call]; c.ReplyRec < 0 {
				y := t.storeLane(c.Op)
				return y, !math.IsNaN(y)
			}
		}
	}
	switch {
	case st.Inst >= 0:
		return t.instLane(int32(st.Inst)), true
	case st.Actor == "producer" || st.Actor == actorBroker:
		return t.lane(actorBroker), true
	case st.Actor == actorRedis || st.Actor == actorDB || st.Actor == actorRelay || st.Actor == actorDownstream:
		y := t.lane(st.Actor)
		return y, !math.IsNaN(y)
	}
	return 0, false
}

// xs lists the times of every mark, in milliseconds; spans (partitions,
// stalls, outages) are drawn across whatever scale the marks make.
func (t *timeline) xs() []float64 {
	var xs []float64
	for _, pts := range t.points {
		for _, p := range pts {
			xs = append(xs, p.X)
		}
	}
	return xs
}
