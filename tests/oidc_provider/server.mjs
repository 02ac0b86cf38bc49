// oidc-provider (an OpenID Certified authorization server) on loopback for the end-to-end test
// of OIDC discovery: it serves its discovery document, its JWKS and RS256 JWT access tokens
// through the client credentials grant. Prints one JSON line, {"port", "issuer"}, once it listens.
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
    }],
    jwks: { keys: [signingKey] },
    scopes: SCOPE.split(' '),
    features: {
      devInteractions: { enabled: false },
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
