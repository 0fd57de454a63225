import { describe, expect, it } from "vitest";
import { newCA } from "./certs.ts";
import { caBundle, configurations } from "./webhook-config.ts";

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

describe("a webhook's failure policy and match conditions", () => {
  it("fails closed by default; one that only adds something may say Ignore and be called only when its conditions hold", () => {
    const rules = [{ apiGroups: ["x.io"], apiVersions: ["*"], resources: ["things"], operations: ["CREATE" as const], scope: "Namespaced" as const }];
    const { mutating, validating } = configurations("c", { url: "https://127.0.0.1:1", namespace: "sys" }, [
      { type: "validating", path: "/v", webhooks: [{ name: "guard.x.io", rules }] },
      { type: "mutating", path: "/m", webhooks: [{ name: "estimate.x.io", rules, failurePolicy: "Ignore", matchConditions: [{ name: "dry", expression: "request.dryRun == true" }] }] },
    ], "bundle");
    const hook = (o: unknown) => (o as { webhooks: Array<Record<string, unknown>> }).webhooks[0]!;
    expect(hook(validating)).toMatchObject({ failurePolicy: "Fail" });
    expect(hook(validating)).not.toHaveProperty("matchConditions");
    expect(hook(mutating)).toMatchObject({ failurePolicy: "Ignore", matchConditions: [{ name: "dry", expression: "request.dryRun == true" }] });
  });
});
