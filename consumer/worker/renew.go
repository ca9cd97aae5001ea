package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// renewAll renews every held lease, a bounded number at a time. A lease that someone else
// took is lost at once (its processor's context is cancelled by the OnLost hook); one that
// could not be renewed for nearly the failover time is given up before others may take it.
func (c *Coordinator) renewAll(ctx context.Context) {
	c.mu.Lock()
	var helds []*lease.Held
	for _, sh := range c.owned {
		if !sh.held.Lost() {
			helds = append(helds, sh.held)
		}
	}
	c.mu.Unlock()
	sem := make(chan struct{}, c.cfg.RenewConcurrency)
	var wg sync.WaitGroup
	for _, h := range helds {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// A hung call must not hold back the next renewals (SDK calls have no deadline of
			// their own); a renewal cut short is re-read before the next write.
			rctx, cancel := context.WithTimeout(ctx, c.cfg.FailoverTime/3)
			err := h.Renew(rctx)
			cancel()
			if err == nil || ctx.Err() != nil || h.Released() {
				return
			}
			c.renewFailures.Add(1)
			if errors.Is(err, checkpoint.ErrLeaseLost) {
				c.log.Warn("lease lost at renewal", "shard", h.Key(), "err", err)
				return
			}
			// Others judge it expired FailoverTime after they last saw it change, which is
			// after this worker's last successful write: give up at the last renewal tick
			// before that (ticks come every interval, a little late: hence the quarter).
			if time.Since(h.RenewedAt())+c.cfg.RenewInterval*5/4 >= c.cfg.FailoverTime {
				c.log.Error("lease not renewed within the failover time: giving it up", "shard", h.Key(), "err", err)
				h.GiveUp()
				return
			}
			c.log.Warn("lease renewal failed; retrying", "shard", h.Key(), "err", err)
		}()
	}
	wg.Wait()
}
