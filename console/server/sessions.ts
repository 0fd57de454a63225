// Signed-in users, kept in memory: a random id in an HttpOnly cookie names a session that holds the
// user's own credential. Nothing is written anywhere; a restart signs everyone out.
import { randomBytes } from "node:crypto";
import type { Credential } from "./credentials.ts";

export interface Session {
  id: string;
  credential: Credential;
  user: string;
  groups: string[];
  namespaces: string[];
  expires: number;
}

export class Sessions {
  private readonly byId = new Map<string, Session>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(ttlMs: number, max: number, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.max = max;
    this.now = now;
  }

  create(s: Omit<Session, "id" | "expires">): Session {
    this.sweep();
    // the oldest go first when full: a flood of sign-ins cannot grow memory without bound
    while (this.byId.size >= this.max) this.byId.delete(this.byId.keys().next().value as string);
    const session: Session = { ...s, id: randomBytes(32).toString("base64url"), expires: this.now() + this.ttlMs };
    this.byId.set(session.id, session);
    return session;
  }

  /** The live session of that id, its lifetime extended (idle timeout), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.byId.delete(id);
      return undefined;
    }
    s.expires = this.now() + this.ttlMs;
    // re-insert: Map order is then least recently used first
    this.byId.delete(id);
    this.byId.set(id, s);
    return s;
  }

  delete(id: string | undefined): void {
    if (id) this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, s] of this.byId) if (s.expires <= t) this.byId.delete(id);
  }
}

export const SESSION_COOKIE = "cellcloud_console";

export function cookieOf(header: string | undefined, name = SESSION_COOKIE): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
