import { createServer } from "node:https";
import { request } from "node:https";
import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { needsRenewal, newCA, newServingCert, servingCertMatches } from "./certs.ts";

const DAY = 86_400_000;

describe("webhook certificates", () => {
  const ca = newCA({ commonName: "cellcloud-webhook-ca", validForMs: 365 * DAY });
  const hosts = ["cellcloud-webhook.cellcloud-system.svc", "localhost", "127.0.0.1", "::1"];
  const leaf = newServingCert(ca, hosts, { commonName: "cellcloud-webhook", validForMs: 30 * DAY });

  it("builds a CA and a leaf that node's X.509 parser accepts, signed by that CA, naming every host", () => {
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
    expect(servingCertMatches(leaf.cert, ca.cert, ["other.svc"])).toBe(false);
    const otherCA = newCA({ commonName: "other", validForMs: DAY });
    expect(servingCertMatches(leaf.cert, otherCA.cert, hosts)).toBe(false);
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
      await expect(get("cellcloud-webhook.cellcloud-system.svc", newCA({ commonName: "x", validForMs: DAY }).cert)).rejects.toThrow();
    } finally {
      server.close();
    }
  });
});
