import { describe, expect, it } from "vitest";
import { newCA } from "./certs.ts";
import { caBundle } from "./webhook-config.ts";

const DAY = 86_400_000;

describe("the webhook's CA bundle across a CA rotation", () => {
  it("puts the new CA first and keeps earlier CAs until they expire, three at most", async () => {
    const a = (await newCA({ commonName: "a", validForMs: 10 * DAY })).cert;
    const b = (await newCA({ commonName: "b", validForMs: 20 * DAY })).cert;
    const c = (await newCA({ commonName: "c", validForMs: 30 * DAY })).cert;
    const d = (await newCA({ commonName: "d", validForMs: 40 * DAY })).cert;
    expect(caBundle(a, undefined)).toBe(a);
    const ab = caBundle(b, a);
    expect(ab).toBe(b + a); // clients that still see a certificate from a keep trusting it
    expect(caBundle(b, ab)).toBe(ab); // the same CA again changes nothing
    expect(caBundle(c, ab, Date.now() + 15 * DAY)).toBe(c + b); // a has expired
    expect(caBundle(d, caBundle(c, ab))).toBe(d + c + b);
  });
});

describe("the CA bundle with something unreadable in it", () => {
  it("drops what does not parse instead of failing", async () => {
    const a = (await newCA({ commonName: "a", validForMs: 10 * DAY })).cert;
    const junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    expect(caBundle(a, junk)).toBe(a);
  });
});
