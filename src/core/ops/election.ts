import type { Lock, LockHolder } from '../store/lock';
import { compareBuilds, FencedError, RENEW_EVERY_MS } from '../store/lock';
import type { Core } from './core';

/**
 * The lock every build before per-host supervision took, one per state dir. A supervisor of this
 * build holds it too when it can (free, stale, or held by an older build), so that an older
 * supervisor still running after an upgrade defers to it and acts on nothing.
 */
export const LEGACY_SUPERVISOR_LOCK = 'supervisor';

/** The lock whose holder is the one supervisor of this host's tasks in a state dir. */
export function supervisorLock(core: Pick<Core, 'host'>): string {
  return `supervisor@${core.host.key}`;
}

/**
 * Leader election among every monitor of one host and state dir (windows, CLI monitors, the
 * background supervisor): the holder of the host's supervisor lock acts, the others only watch.
 * Hosts (or containers) sharing a state dir each elect their own: a host supervises the tasks it
 * runs. The lock is a lease, renewed on a timer; a leader checks it is still its own before each
 * action (fencing). A newer build takes the lead from an older one; an older one meeting a newer
 * leader hands over (`supersededBy`).
 */
export class Leadership {
  private lock: Lock | undefined;
  private legacy: Lock | undefined;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  /** A newer build leads this host's tasks: this one must hand over. */
  supersededBy: LockHolder | undefined;

  /** `enabled` false: every monitor acts (tests of the per-task locks only). */
  constructor(private readonly core: Core, private readonly enabled = true) {}

  get isLeader(): boolean {
    return !this.enabled || this.lock !== undefined;
  }

  get electing(): boolean {
    return this.enabled;
  }

  private get name(): string {
    return supervisorLock(this.core);
  }

  /** Holds the supervisor lock, taking it when free, when its holder died or stopped, or from an older build. */
  lead(): boolean {
    if (!this.enabled) return true;
    const locks = this.core.locks;
    const me = locks.identity();
    if (this.lock) {
      // A lock that cannot be read right now (EIO, EMFILE) is still ours: dropping it would make
      // every monitor, this one included, defer to a supervisor that no longer acts.
      if (this.lock.check() !== 'lost') {
        this.renew();
        this.holdLegacy();
        return true;
      }
      this.lock = undefined; // lost it (removed by hand, taken over): take it again below if free
      this.dropLegacy();
      this.core.logger.warn('the supervisor lock was taken over; deferring to its new holder');
    }
    this.core.store.init();
    this.lock = locks.tryAcquire(this.name, (h) => compareBuilds(me, h) > 0) ?? locks.reclaim(this.name);
    if (this.lock) {
      this.supersededBy = undefined;
      this.lastRenew = Date.now();
      this.core.logger.info(`this process is now the supervisor of ${this.core.host.name}'s tasks (lease epoch ${this.lock.epoch})`);
      this.holdLegacy();
      return true;
    }
    const holder = this.liveHolderOrUndefined();
    this.supersededBy = holder && compareBuilds(holder, me) > 0 ? holder : undefined;
    return false;
  }

  /** This process led, and its lease now names another (a newer build, or a replacement while it was stopped). */
  lostLead(): boolean {
    return this.enabled && this.lock !== undefined && this.lock.check() === 'lost';
  }

  /**
   * Throws FencedError unless this process still holds the supervisor lock: called before every
   * action, so a leader that was stopped and replaced does nothing when it wakes.
   */
  fence(): void {
    if (!this.enabled || !this.lock) return;
    if (this.lock.check() === 'lost') {
      const file = this.lock.file;
      this.lock = undefined;
      this.dropLegacy();
      throw new FencedError(file);
    }
  }

  /** The older builds' one lock: held while free or older, so an older supervisor defers. */
  private holdLegacy(): void {
    const locks = this.core.locks;
    if (this.legacy && this.legacy.check() !== 'lost') return;
    const me = locks.identity();
    try {
      this.legacy = locks.tryAcquire(LEGACY_SUPERVISOR_LOCK, (h) => compareBuilds(me, h) > 0) ?? locks.reclaim(LEGACY_SUPERVISOR_LOCK);
    } catch {
      this.legacy = undefined; // looked at again next pass
    }
  }

  private dropLegacy(): void {
    this.legacy?.release();
    this.legacy = undefined;
  }

  /** Renews the lease when it is due; a lease found taken over is given up. */
  renew(): void {
    if (!this.lock || Date.now() - this.lastRenew < RENEW_EVERY_MS) return;
    this.lastRenew = Date.now();
    if (!this.lock.renew()) {
      this.lock = undefined;
      this.dropLegacy();
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
    this.dropLegacy();
  }

  /** The live holder, for a follower watching it; throws when the lock cannot be read just now. */
  liveHolder(): LockHolder | undefined {
    return this.core.locks.liveHolder(this.name);
  }

  private liveHolderOrUndefined(): LockHolder | undefined {
    try {
      return this.liveHolder();
    } catch {
      return undefined;
    }
  }

  /** Who holds it, as written (undefined when nobody does or it cannot be read). */
  holder(): LockHolder | undefined {
    try {
      return this.core.locks.readHolder(this.name);
    } catch {
      return undefined;
    }
  }
}
