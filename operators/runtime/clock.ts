// Injected time, so tests control it. Production code takes a Clock instead of calling Date.now().
export interface Clock {
  now(): number;
}

export const realClock: Clock = { now: () => Date.now() };
