// oidc-provider (an OpenID Certified authorization server) on loopback for the end-to-end tests
// of OIDC discovery and of the issuer's single sign-on: it serves its discovery document, its
// JWKS and RS256 JWT access tokens through the client credentials grant, and, for each client
// in the SSO_CLIENTS environment variable (JSON: [{client_id, client_secret, redirect_uris}]),
// the authorization code flow with its development login pages (any login name signs in; the
// account's email is <login>@idp.test). Prints one JSON line, {"port", "issuer"}, once it
// listens.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

// The same values as crates/tenantgate-testkit/src/oidc_provider.rs.
const CLIENT_ID = 'tenantgate-e2e';
const CLIENT_SECRET = 'tenantgate-e2e-secret';
const RESOURCE = 'https://api.e2e.test';
const SCOPE = 'orders:read orders:write';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

const ssoClients = JSON.parse(process.env.SSO_CLIENTS || '[]').map((c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  redirect_uris: c.redirect_uris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));

// The test reads only the first line of stdout and then closes it: anything the provider logs
// (its development pages do) goes to stderr, and a closed stdout is no crash.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);
process.stdout.on('error', () => {});

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }, ...ssoClients],
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, email: `${id}@idp.test`, email_verified: true }),
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    // The ID token carries the email the scope asked for (not only the userinfo endpoint).
    conformIdTokenClaims: false,
    jwks: { keys: [signingKey] },
    scopes: ['openid', 'email', ...SCOPE.split(' ')],
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
});

// The test kills this process; end as well when its standard input closes.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
