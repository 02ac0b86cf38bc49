// Drives Debian's Chromium (through playwright-core) through the issuer's hosted sign-in page:
// a wrong password, the right one, the TOTP step when TOTP_SECRET is set, the signed-in page.
// Saves a screenshot of each page under ARTIFACTS and prints one JSON line with what it saw.
//
// Environment: BASE_URL, TENANT, EMAIL, PASSWORD, ARTIFACTS, NAME (screenshot prefix),
// COOKIE_NAME, TOTP_SECRET (base32, optional), CHROMIUM (default /usr/bin/chromium).
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    bits += i.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

// RFC 6238 with SHA-1, 30-second steps, 6 digits: what an authenticator app shows now.
function totpNow(secret) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

const base = env('BASE_URL');
const tenant = env('TENANT');
const artifacts = env('ARTIFACTS');
const name = env('NAME');
const totpSecret = process.env.TOTP_SECRET || '';
mkdirSync(artifacts, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'tenantgate-chromium-'));
const seen = { pages: [] };

async function shot(page, step) {
  const path = join(artifacts, `${name}-${step}.png`);
  await page.screenshot({ path, fullPage: true });
  seen.pages.push({ step, title: await page.title(), heading: await page.textContent('h1') });
}

async function submit(page) {
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 800, height: 640 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const first = await page.goto(`${base}/t/${tenant}/sign-in`);
  seen.csp = first.headers()['content-security-policy'];
  seen.sso_href = await page.getAttribute('a.button.secondary', 'href').catch(() => null);
  await shot(page, '1-sign-in');

  await page.fill('#email', env('EMAIL'));
  await page.fill('#password', 'not the password');
  await submit(page);
  seen.wrong_password = await page.textContent('.notice.error');
  await shot(page, '2-wrong-password');

  await page.fill('#password', env('PASSWORD'));
  await submit(page);
  if (totpSecret) {
    await shot(page, '3-totp');
    await page.fill('#code', totpNow(totpSecret));
    await submit(page);
  }
  seen.signed_in = await page.textContent('.notice.info');
  await shot(page, '4-signed-in');
  const cookies = await context.cookies(`${base}/v1/tenants/${tenant}/refresh`);
  seen.refresh_cookie = cookies.find((c) => c.name === env('COOKIE_NAME')) ?? null;
  console.log(JSON.stringify(seen));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
