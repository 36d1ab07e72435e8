# Controller image: build the release binary, then copy it alone into a distroless base.
#   docker build -t REGISTRY/karpenter-ovhcloud:TAG .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# --no-default-features drops the `simulators` feature: no simulated OVH/Kubernetes API, no
# `demo` or `sim` subcommand, no benchmark harness in the image (they are for local runs and
# tests). host/tests/it/production_image.rs reads this line and checks with `cargo tree` that
# its flags leave the sim crate out.
RUN cargo build --release --locked -p karpenter-ovhcloud --no-default-features \
 && cp target/release/karpenter-ovhcloud /karpenter-ovhcloud

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /karpenter-ovhcloud /usr/local/bin/karpenter-ovhcloud
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/karpenter-ovhcloud"]
CMD ["controller"]
