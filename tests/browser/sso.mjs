// Drives Debian's Chromium (through playwright-core) through single sign-on: the issuer's hosted
// sign-in page, its single sign-on link, the IdP's login and consent pages (oidc-provider's
// development interactions), back through the issuer's callback to its signed-in page. Saves a
// screenshot of each page under ARTIFACTS and prints one JSON line with what it saw.
//
// Environment: BASE_URL, TENANT, IDP_URL, LOGIN (the name typed at the IdP), ARTIFACTS, NAME
// (screenshot prefix), COOKIE_NAME, CHROMIUM (default /usr/bin/chromium).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const base = env('BASE_URL');
const tenant = env('TENANT');
const idp = env('IDP_URL');
const artifacts = env('ARTIFACTS');
const name = env('NAME');
mkdirSync(artifacts, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'tenantgate-chromium-'));
const seen = { pages: [] };

async function shot(page, step) {
  const path = join(artifacts, `${name}-${step}.png`);
  await page.screenshot({ path, fullPage: true });
  seen.pages.push({ step, url: page.url(), title: await page.title(), heading: await page.textContent('h1') });
}

// Clicks `selector` and waits for the navigation it starts (server redirects included); it must
// end at a URL starting with `prefix`.
async function follow(page, selector, prefix) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
  if (!page.url().startsWith(prefix)) {
    throw new Error(`after ${selector}: at ${page.url()}, not ${prefix}: ${await page.content()}`);
  }
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
  // Only the issuer and the IdP on loopback: the IdP's pages import a web font, which a test
  // must not fetch.
  const allowed = [new URL(base).host, new URL(idp).host];
  await context.route('**/*', (route) => {
    const { host } = new URL(route.request().url());
    return allowed.includes(host) ? route.continue() : route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${base}/t/${tenant}/sign-in`);
  seen.sso_href = await page.getAttribute('a.button.secondary', 'href');
  await shot(page, '1-sign-in');

  await follow(page, 'a.button.secondary', `${idp}/interaction/`);
  seen.idp_login_form = (await page.locator('input[name=login]').count()) === 1;
  await shot(page, '2-idp-login');

  await page.fill('input[name=login]', env('LOGIN'));
  await page.fill('input[name=password]', 'any password');
  await follow(page, 'button[type=submit]', `${idp}/interaction/`);
  seen.idp_consent = await page.locator('input[name=prompt]').getAttribute('value');
  await shot(page, '3-idp-consent');

  await follow(page, 'button[type=submit]', `${base}/t/${tenant}/sign-in/done`);
  seen.final_url = page.url();
  seen.signed_in = await page.textContent('.notice.info');
  await shot(page, '4-signed-in');
  const cookies = await context.cookies(`${base}/v1/tenants/${tenant}/refresh`);
  seen.refresh_cookie = cookies.find((c) => c.name === env('COOKIE_NAME')) ?? null;
  console.log(JSON.stringify(seen));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
