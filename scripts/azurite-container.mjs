// Creates a blob container in Azurite with a SharedKey-signed request (no SDK needed).
// Usage: node scripts/azurite-container.mjs http://127.0.0.1:10000 NAME
// Uses Azurite's well-known development account; an existing container is fine.
import crypto from "node:crypto";

const [endpoint, container] = process.argv.slice(2);
const account = "devstoreaccount1";
const key = Buffer.from(
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
  "base64",
);
const version = "2021-08-06";
const date = new Date().toUTCString();
// Emulator URLs are path-style, so the account appears twice in the canonical resource.
const toSign = [
  "PUT", "", "", "", "", "", "", "", "", "", "", "",
  `x-ms-date:${date}\nx-ms-version:${version}`,
  `/${account}/${account}/${container}\nrestype:container`,
].join("\n");
const signature = crypto.createHmac("sha256", key).update(toSign, "utf8").digest("base64");

const res = await fetch(`${endpoint}/${account}/${container}?restype=container`, {
  method: "PUT",
  headers: {
    "x-ms-date": date,
    "x-ms-version": version,
    Authorization: `SharedKey ${account}:${signature}`,
    "Content-Length": "0",
  },
});
if (res.status !== 201 && res.status !== 409) {
  console.error(`creating container ${container}: HTTP ${res.status}\n${await res.text()}`);
  process.exit(1);
}
