// Serving certificates for the admission webhook: a self-signed CA and a leaf signed by it, both
// ECDSA P-256, built with @peculiar/x509 (a maintained X.509 library over WebCrypto) rather than by
// hand: serials, SANs (IPv6 and IPv4-mapped included) and key identifiers are encoded by it. Anything
// that does not parse counts as due for renewal, so a corrupt Secret heals instead of wedging.
import "reflect-metadata"; // @peculiar/x509's dependency injection needs the Reflect metadata API
import * as x509 from "@peculiar/x509";
import { randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { isIP } from "node:net";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

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

/** 16 random bytes, first one 0x01-0x7f: a positive serial whose DER INTEGER is minimal as it stands. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! % 0x7f) + 1;
  return b.toString("hex");
}

const validity = (o: CertOptions) => {
  const now = o.now ?? new Date();
  return { notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + o.validForMs) };
};

async function exportKey(k: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", k));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  return webcrypto.subtle.importKey("pkcs8", der, ALG, false, ["sign"]);
}

/** IPv6 in the WHATWG URL parser's canonical form: the library mis-encodes dotted IPv4-mapped forms (::ffff:10.1.2.3). */
const canonicalIP = (h: string): string => (isIP(h) === 6 ? new URL(`http://[${h}]`).hostname.slice(1, -1) : h);

const newKeys = () => webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>;

/** A CA that can sign serving certificates (basicConstraints CA, keyCertSign, a subject key identifier). */
export async function newCA(o: CertOptions): Promise<KeyCert> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name: `CN=${o.commonName}`, ...validity(o), keys, signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem") + "\n", key: await exportKey(keys.privateKey) };
}

/** A TLS server certificate for `hosts` (DNS names and IP addresses), signed by `ca`. */
export async function newServingCert(ca: KeyCert, hosts: readonly string[], o: CertOptions): Promise<KeyCert> {
  const keys = await newKeys();
  const issuer = new x509.X509Certificate(ca.cert);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(), subject: `CN=${o.commonName}`, issuer: issuer.subject, ...validity(o),
    publicKey: keys.publicKey, signingKey: await importKey(ca.key), signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIP(h) ? "ip" as const : "dns" as const, value: canonicalIP(h) }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer),
    ],
  });
  return { cert: cert.toString("pem") + "\n", key: await exportKey(keys.privateKey) };
}

/** Whether `cert` should be replaced: unreadable, expired, or less than `renewBeforeMs` of its validity left. */
export function needsRenewal(cert: string, renewBeforeMs: number, now = new Date()): boolean {
  try {
    return new Date(new X509Certificate(cert).validTo).getTime() - now.getTime() < renewBeforeMs;
  } catch {
    return true;
  }
}

/** Whether `leaf` parses, was signed by `ca` and names every one of `hosts`. */
export function servingCertMatches(leaf: string, ca: string, hosts: readonly string[]): boolean {
  try {
    const c = new X509Certificate(leaf);
    if (!c.verify(new X509Certificate(ca).publicKey)) return false;
    return hosts.every((h) => (isIP(h) ? c.checkIP(canonicalIP(h)) !== undefined : c.checkHost(h) !== undefined));
  } catch {
    return false;
  }
}
