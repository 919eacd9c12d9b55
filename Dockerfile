# operator-upgrade as a static binary on a distroless base, for running it as a Kubernetes Job
# (examples/in-cluster/). Build from the repository root:
#
#   docker build -t operator-upgrade:0.1.0 .
#
# The binary is linked statically against musl (rustls for TLS, mimalloc built by musl-gcc), so the final
# image holds nothing but it on the distroless base (no shell, non-root); the API server's address, CA and
# token come from the pod's service account.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin operator-upgrade

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/operator-upgrade /operator-upgrade
USER nonroot:nonroot
ENTRYPOINT ["/operator-upgrade"]
