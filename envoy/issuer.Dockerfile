# tenantgate-issuer. Build from the repository root:
#   docker build -f envoy/issuer.Dockerfile -t tenantgate-issuer .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tenantgate-issuer

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/tenantgate tenantgate \
    && mkdir -p /var/lib/tenantgate /etc/tenantgate \
    && chown tenantgate /var/lib/tenantgate
COPY --from=build /src/target/release/tenantgate-issuer /usr/local/bin/tenantgate-issuer
COPY envoy/issuer.toml /etc/tenantgate/issuer.toml
COPY envoy/seed-demo.sh /usr/local/bin/seed-demo.sh
USER tenantgate
VOLUME /var/lib/tenantgate
EXPOSE 9000
ENTRYPOINT ["tenantgate-issuer", "--config", "/etc/tenantgate/issuer.toml"]
CMD ["serve"]
