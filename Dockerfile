# syntax=docker/dockerfile:1
# Splitrail container image: `docker build -t splitrail .`
#
# Two stages: the build stage has the Rust toolchain and the whole source tree; the runtime
# stage has only the `splitrail` binary (linked against glibc, hence a Debian base), so the
# image stays small and carries no compiler.
#
# Not built on the project's machines (they have no Docker engine); see docs/django.md.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# --locked: build exactly the dependency versions in Cargo.lock.
# The cache mounts keep the crate registry and target/ between builds (BuildKit); the binary is
# copied out of the cached target/ because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p splitrail \
    && install -D -m 0755 target/release/splitrail /out/splitrail

FROM debian:bookworm-slim
# A fixed, unprivileged user: the proxy needs no root (its ports are above 1024).
RUN groupadd --system --gid 10001 splitrail \
    && useradd --system --uid 10001 --gid splitrail --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin splitrail
COPY --from=build /out/splitrail /usr/local/bin/splitrail
USER splitrail:splitrail
# 6033: MySQL clients. 6034: admin HTTP API and /metrics.
EXPOSE 6033 6034
ENTRYPOINT ["splitrail"]
# Mount the config here (docker-compose.yml mounts docker/proxy.yaml). Inside a container it
# must listen on 0.0.0.0, and a non-loopback admin listener needs admin.token or token_env.
CMD ["--config", "/etc/splitrail/proxy.yaml"]
