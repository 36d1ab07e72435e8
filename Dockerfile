# Controller image: build the release binary, then copy it alone into a distroless base.
#   docker build -t REGISTRY/karpenter-ovhcloud:TAG .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p karpenter-ovhcloud \
 && cp target/release/karpenter-ovhcloud /karpenter-ovhcloud

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /karpenter-ovhcloud /usr/local/bin/karpenter-ovhcloud
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/karpenter-ovhcloud"]
CMD ["controller"]
