// The webhook's certificates as a third-party X.509 implementation sees them: 3,000 serving
// certificates (30 CAs × 100 leaves, every kind of SAN the webhook uses) must each parse and verify
// with OpenSSL, as a TLS server certificate for its hosts. A hand-built encoder once got about 1
// serial in 512 wrong (not minimal DER), which Go and OpenSSL reject; the certificates now come from
// @peculiar/x509, and a slip that rare would still show here with probability 1 − (511/512)^3000 ≈
// 99.7% (a systematic one at once).
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { newCA, newServingCert } from "../operators/runtime/certs.ts";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "cellcloud-certs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CAS = 30;
const LEAVES = 100;
const CONCURRENCY = 4;
const hosts = ["cellcloud-webhook.cellcloud-system.svc", "cellcloud-webhook.cellcloud-system.svc.cluster.local", "127.0.0.1", "::1", "::ffff:10.1.2.3"];

describe("webhook certificates under OpenSSL", () => {
  it(`${CAS * LEAVES} serving certificates parse and verify for their hosts`, async () => {
    let verified = 0;
    // one CA and its leaves after another, CONCURRENCY at a time: key generation and signing run on
    // libuv's thread pool and openssl in its own process, so the cores work side by side
    const oneCA = async (c: number) => {
      const ca = await newCA({ commonName: `ca-${c}`, validForMs: 86_400_000 });
      const caFile = join(dir, `ca-${c}.pem`);
      writeFileSync(caFile, ca.cert);
      const files: string[] = [];
      for (let l = 0; l < LEAVES; l++) {
        const leaf = await newServingCert(ca, hosts, { commonName: "cellcloud-webhook", validForMs: 3_600_000 });
        const f = join(dir, `leaf-${c}-${l}.pem`);
        writeFileSync(f, leaf.cert);
        files.push(f);
      }
      // One openssl per CA: -x509_strict refuses what a lenient parser would let pass.
      const { stdout } = await run("openssl", ["verify", "-x509_strict", "-purpose", "sslserver", "-verify_hostname", hosts[0]!, "-verify_ip", "::ffff:10.1.2.3", "-CAfile", caFile, ...files], { maxBuffer: 16 << 20 });
      verified += stdout.split("\n").filter((line) => line.endsWith(": OK")).length;
      rmSync(caFile);
      for (const f of files) rmSync(f);
    };
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (next < CAS) await oneCA(next++); }));
    expect(verified).toBe(CAS * LEAVES);
  }, 600_000);
});
