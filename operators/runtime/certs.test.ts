import { createServer } from "node:https";
import { request } from "node:https";
import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { needsRenewal, newCA, newServingCert, servingCertMatches, type KeyCert } from "./certs.ts";

const DAY = 86_400_000;

describe("webhook certificates", () => {
  const hosts = ["cellcloud-webhook.cellcloud-system.svc", "localhost", "127.0.0.1", "::1", "::ffff:10.1.2.3"];
  let ca: KeyCert;
  let leaf: KeyCert;
  beforeAll(async () => {
    ca = await newCA({ commonName: "cellcloud-webhook-ca", validForMs: 365 * DAY });
    leaf = await newServingCert(ca, hosts, { commonName: "cellcloud-webhook", validForMs: 30 * DAY });
  });

  it("builds a CA and a leaf that node's X.509 parser accepts, signed by that CA, naming every host", async () => {
    const c = new X509Certificate(ca.cert);
    expect(c.ca).toBe(true);
    expect(c.subject).toBe("CN=cellcloud-webhook-ca");
    const l = new X509Certificate(leaf.cert);
    expect(l.ca).toBe(false);
    expect(l.issuer).toBe("CN=cellcloud-webhook-ca");
    expect(l.verify(c.publicKey)).toBe(true);
    expect(l.subjectAltName).toContain("DNS:cellcloud-webhook.cellcloud-system.svc");
    expect(l.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(servingCertMatches(leaf.cert, ca.cert, hosts)).toBe(true);
    expect(l.checkIP("::1")).toBe("::1");
    expect(servingCertMatches(leaf.cert, ca.cert, ["other.svc"])).toBe(false);
    expect(l.subjectAltName).toContain("IP Address:0:0:0:0:0:FFFF:A01:203"); // ::ffff:10.1.2.3, encoded as itself
    const otherCA = await newCA({ commonName: "other", validForMs: DAY });
    expect(servingCertMatches(leaf.cert, otherCA.cert, hosts)).toBe(false);
  });

  it("treats what it cannot read as due for renewal, never as an error", () => {
    for (const junk of ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", leaf.cert.slice(0, 200)]) {
      expect(needsRenewal(junk, 0)).toBe(true);
      expect(servingCertMatches(junk, ca.cert, hosts)).toBe(false);
      expect(servingCertMatches(leaf.cert, junk, hosts)).toBe(false);
    }
  });

  it("knows when a certificate is due for renewal", () => {
    expect(needsRenewal(leaf.cert, 7 * DAY)).toBe(false);
    expect(needsRenewal(leaf.cert, 7 * DAY, new Date(Date.now() + 24 * DAY))).toBe(true);
    expect(needsRenewal(leaf.cert, 0, new Date(Date.now() + 31 * DAY))).toBe(true);
  });

  it("serves TLS that a client trusting only the CA accepts", async () => {
    const server = createServer({ cert: leaf.cert, key: leaf.key }, (_req, res) => res.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const get = (servername: string, caPem: string) => new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, servername, ca: caPem, path: "/" }, (res) => {
        let body = ""; res.on("data", (d) => (body += d)); res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      req.end();
    });
    try {
      expect(await get("cellcloud-webhook.cellcloud-system.svc", ca.cert)).toBe("ok");
      await expect(get("cellcloud-webhook.cellcloud-system.svc", (await newCA({ commonName: "x", validForMs: DAY })).cert)).rejects.toThrow();
    } finally {
      server.close();
    }
  });
});
