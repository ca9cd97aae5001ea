package pipeline

import "context"

// answer is the outcome of one GetRecords call, with the budget token it holds.
type answer struct {
	b     Batch
	err   error
	token bool // a token of the processor's budget (Config.HeldAnswers)
}

// fetch is a GetRecords call running in the background: the shard's loop starts reading the
// next answer while it hands the current one to the writer, so that on a shard behind its
// tip the network and the decoding overlap the encoding.
type fetch struct {
	done   chan answer // receives the one answer
	cancel context.CancelFunc
}

// startFetch reads the answer at iter in the background. budgeted: first take a token of
// the worker's budget (the shard is behind its tip, so the answer may be a full batch).
func (r *shardRun) startFetch(ctx context.Context, iter string, budgeted bool) *fetch {
	fctx, cancel := context.WithCancel(ctx)
	f := &fetch{done: make(chan answer, 1), cancel: cancel}
	go func() { f.done <- r.read(fctx, iter, budgeted) }()
	return f
}

func (r *shardRun) read(ctx context.Context, iter string, budgeted bool) answer {
	var a answer
	if budgeted {
		select {
		case r.p.budget <- struct{}{}:
			a.token = true
		case <-ctx.Done():
			return answer{err: ctx.Err()}
		}
	}
	a.b, a.err = r.p.reader.Records(ctx, iter, r.p.cfg.Limit)
	if a.err != nil {
		r.release(&a) // a failed call holds no records
	}
	return a
}

// release gives a's token back to the budget, if it holds one.
func (r *shardRun) release(a *answer) {
	if a.token {
		<-r.p.budget
		a.token = false
	}
}

// wait returns the fetch's answer, or ctx's error when ctx ends first (the fetch is then
// abandoned: stop it).
func (f *fetch) wait(ctx context.Context) (answer, error) {
	select {
	case a := <-f.done:
		f.cancel()
		return a, nil
	case <-ctx.Done():
		return answer{}, ctx.Err()
	}
}

// stop abandons a fetch that was not waited for: its answer, if it came, is dropped unread
// (no record of it reached the writer) and its token returned.
func (r *shardRun) stop(f *fetch) {
	f.cancel()
	a := <-f.done
	r.release(&a)
}
