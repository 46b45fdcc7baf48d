import type { Lock, LockHolder } from '../store/lock';
import { RENEW_EVERY_MS } from '../store/lock';
import type { Core } from './core';

/** The lock whose holder is the one supervisor of a state dir. */
export const SUPERVISOR_LOCK = 'supervisor';

/**
 * Leader election among every monitor of one state dir (windows, CLI monitors, the background
 * supervisor): the holder of the supervisor lock acts, the others only watch. The lock is a lease,
 * renewed on a timer so that no other host takes it over while this process lives.
 */
export class Leadership {
  private lock: Lock | undefined;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `enabled` false: every monitor acts (tests of the per-task locks only). */
  constructor(private readonly core: Core, private readonly enabled = true) {}

  get isLeader(): boolean {
    return !this.enabled || this.lock !== undefined;
  }

  get electing(): boolean {
    return this.enabled;
  }

  /** Holds the supervisor lock, taking it when free or when its holder died. */
  lead(): boolean {
    if (!this.enabled) return true;
    const locks = this.core.locks;
    if (this.lock) {
      // A lock that cannot be read right now (EIO, EMFILE) is still ours: dropping it would make
      // every monitor, this one included, defer to a supervisor that no longer acts.
      if (this.lock.check() !== 'lost') {
        this.renew();
        return true;
      }
      this.lock = undefined; // lost it (removed by hand, taken over): take it again below if free
    }
    this.core.store.init();
    this.lock = locks.tryAcquire(SUPERVISOR_LOCK) ?? locks.reclaim(SUPERVISOR_LOCK);
    if (this.lock) {
      this.lastRenew = Date.now();
      this.core.logger.info('this process is now the supervisor');
    }
    return this.lock !== undefined;
  }

  /** Renews the lease when it is due; a lease found taken over is given up. */
  renew(): void {
    if (!this.lock || Date.now() - this.lastRenew < RENEW_EVERY_MS) return;
    this.lastRenew = Date.now();
    if (!this.lock.renew()) {
      this.lock = undefined;
      this.core.logger.warn('the supervisor lock was taken over; deferring to its new holder');
    }
  }

  /** Renews on a timer, between passes too (a pass may wait on tmux for long). */
  startRenewing(): void {
    if (!this.enabled || this.timer) return;
    const tick = () => {
      this.timer = setTimeout(() => {
        this.renew();
        tick();
      }, RENEW_EVERY_MS);
      this.timer.unref?.();
    };
    tick();
  }

  resign(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.lock?.release();
    this.lock = undefined;
  }

  /** The live holder, for a follower watching it; throws when the lock cannot be read just now. */
  liveHolder(): LockHolder | undefined {
    return this.core.locks.liveHolder(SUPERVISOR_LOCK);
  }

  /** Who holds it, as written (undefined when nobody does or it cannot be read). */
  holder(): LockHolder | undefined {
    try {
      return this.core.locks.readHolder(SUPERVISOR_LOCK);
    } catch {
      return undefined;
    }
  }
}
