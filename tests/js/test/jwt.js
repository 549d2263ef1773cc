// Minimal JWT signing for tests (node:crypto only): HS256 and ES256.
import { createHmac, sign } from "node:crypto";

const b64 = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

export const now = () => Math.floor(Date.now() / 1000);

export function hs256(claims, secret) {
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

export function es256(claims, privateKey) {
  const head = `${b64({ alg: "ES256", typ: "JWT" })}.${b64(claims)}`;
  const signature = sign("sha256", Buffer.from(head), { key: privateKey, dsaEncoding: "ieee-p1363" });
  return `${head}.${signature.toString("base64url")}`;
}
