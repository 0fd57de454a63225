// Serving certificates for the admission webhook: a self-signed CA and a leaf signed by it, both
// ECDSA P-256, built as DER with node:crypto alone (what cert-manager or OPA's cert-controller would
// otherwise provide). The CA's PEM is what goes into a webhook configuration's caBundle.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { isIP } from "node:net";

// ---- just enough DER ----
const len = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, ...body: Buffer[]): Buffer => {
  const b = Buffer.concat(body);
  return Buffer.concat([Buffer.from([tag]), len(b.length), b]);
};
const seq = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const oid = (dotted: string): Buffer => {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) { groups.unshift(v % 128); if (v < 128) break; }
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(0x06, Buffer.from(out));
};
const int = (b: Buffer) => tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
const time = (d: Date): Buffer => {
  const s = d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z"; // YYYYMMDDHHMMSSZ
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(s.slice(2))) : tlv(0x18, Buffer.from(s));
};
const name = (cn: string) => seq(set(seq(oid("2.5.4.3"), utf8(cn))));
const ext = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return Buffer.from(groups.flatMap((g) => { const n = parseInt(g || "0", 16); return [n >> 8, n & 0xff]; }));
}

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

export interface KeyCert {
  /** PEM of the certificate. */
  cert: string;
  /** PEM (PKCS#8) of its private key. */
  key: string;
}

export interface CertOptions {
  commonName: string;
  /** Validity; the certificate is back-dated a minute for clock skew. */
  validForMs: number;
  now?: Date;
}

function build(subject: string, issuer: string, publicKey: KeyObject, signer: KeyObject, o: CertOptions, extensions: Buffer[]): string {
  const now = o.now ?? new Date();
  const tbs = seq(
    tlv(0xa0, int(Buffer.from([2]))), // v3
    int(randomBytes(16)),
    ECDSA_SHA256,
    name(issuer),
    seq(time(new Date(now.getTime() - 60_000)), time(new Date(now.getTime() + o.validForMs))),
    name(subject),
    publicKey.export({ type: "spki", format: "der" }),
    tlv(0xa3, seq(...extensions)),
  );
  const der = seq(tbs, ECDSA_SHA256, bits(sign("sha256", tbs, { key: signer, dsaEncoding: "der" })));
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

const newKey = () => generateKeyPairSync("ec", { namedCurve: "P-256" });
const pkcs8 = (k: KeyObject) => k.export({ type: "pkcs8", format: "pem" }) as string;

/** A CA that can sign serving certificates (basicConstraints CA, keyCertSign). */
export function newCA(o: CertOptions): KeyCert {
  const { publicKey, privateKey } = newKey();
  const cert = build(o.commonName, o.commonName, publicKey, privateKey, o, [
    ext("2.5.29.19", true, seq(bool(true))),
    ext("2.5.29.15", true, bits(Buffer.from([0x06]))), // keyCertSign | cRLSign
  ]);
  return { cert, key: pkcs8(privateKey) };
}

/** A TLS server certificate for `hosts` (DNS names and IP addresses), signed by `ca`. */
export function newServingCert(ca: KeyCert, hosts: readonly string[], o: CertOptions): KeyCert {
  const { publicKey, privateKey } = newKey();
  const issuer = new X509Certificate(ca.cert).subject.replace(/^CN=/, "");
  const san = seq(...hosts.map((h) => (isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, "ascii")))));
  const cert = build(o.commonName, issuer, publicKey, createPrivateKey(ca.key), o, [
    ext("2.5.29.19", true, seq()),
    ext("2.5.29.15", true, bits(Buffer.from([0x80]))), // digitalSignature
    ext("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))), // serverAuth
    ext("2.5.29.17", false, san),
  ]);
  return { cert, key: pkcs8(privateKey) };
}

/** Whether `cert` should be replaced: expired, or less than `renewBeforeMs` of its validity left. */
export function needsRenewal(cert: string, renewBeforeMs: number, now = new Date()): boolean {
  const c = new X509Certificate(cert);
  return new Date(c.validTo).getTime() - now.getTime() < renewBeforeMs;
}

/** Whether `leaf` was signed by `ca` and names every one of `hosts`. */
export function servingCertMatches(leaf: string, ca: string, hosts: readonly string[]): boolean {
  const c = new X509Certificate(leaf);
  if (!c.verify(new X509Certificate(ca).publicKey)) return false;
  return hosts.every((h) => (isIP(h) ? c.checkIP(h) !== undefined : c.checkHost(h) !== undefined));
}
