# Fulcrum's container image: one image for both components (`fulcrum allocator`, `fulcrum speaker`),
# the reference config/30-allocator.yaml and config/31-speaker.yaml name.
#
#   docker build -t ghcr.io/fulcrum-lb/fulcrum:0.1.0 .
#   npm run image          the same with podman, on bases made locally (bin/build-image.sh)
#
# User: the image's default user is nobody (65534): the allocator, `fulcrum status`, `fulcrum
# proxy` on ports above 1023 and `--help` need no privilege. The speaker asks for root in its
# manifest (`runAsUser: 0`, config/31-speaker.yaml and the chart): it runs `ip` and `nft` and
# writes /proc/sys, and capabilities given to a non-root process are lost across exec
# (Kubernetes sets no ambient capabilities), so a non-root speaker could not change addresses.
# At start it writes arp_ignore/arp_announce under /proc/sys, which runtimes mount read-only in
# an unprivileged container: it needs `privileged: true` (or /proc/sys unmasked). Nothing in the
# image needs to be writable.

# The bases are arguments so that a machine without registry access can build on its own
# (bin/build-image.sh); anywhere else the defaults are the official Node 22 images.
ARG BUILD_BASE=node:22-bookworm
ARG BASE=node:22-bookworm-slim

# Build: the full image has python3, make and g++ for node-gyp (the packet addon and raw-socket).
FROM ${BUILD_BASE} AS build
# node-gyp builds against the headers of the Node in the image instead of downloading them.
ENV npm_config_nodedir=/usr/local npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WORKDIR /src
# Dependencies first, without their install scripts: this layer is reused until the lock changes.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
# Marks the layers below: bin/build-image.sh removes them once the image is built (the
# dependencies above stay cached).
LABEL io.fulcrum.stage=build
COPY . .
# The addons of the dependencies (raw-socket, dtrace-provider), then ours (the `install` script,
# node-gyp), then the TypeScript; then only what runs: production dependencies, no build leftovers.
# Source maps and type declarations of the dependencies are never loaded: about 40 MB less.
RUN npm rebuild \
 && npm run install \
 && npm run build \
 && npm prune --omit=dev \
 && rm -rf dist/test dist/bench \
 && find node_modules -type d \( -name obj.target -o -name .deps \) -prune -exec rm -rf {} + \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete \
 && find node_modules -depth -type d -empty -delete \
 && test -f build/Release/fulcrum_packet.node

# Run: slim Node, plus iproute2 (`ip`: addresses on lo) and nftables (`nft`: the connection
# handoff on takeover) for the speaker.
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 nftables \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
WORKDIR /opt/fulcrum
COPY --from=build /src/package.json ./
COPY --from=build /src/bin/fulcrum ./bin/fulcrum
COPY --from=build /src/build/Release/fulcrum_packet.node ./build/Release/fulcrum_packet.node
COPY --from=build /src/config ./config
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
ENV NODE_ENV=production
# 7472: the allocator's metrics, /healthz, /readyz; 7473: the speaker's; 7946/udp: the speakers' membership probes.
EXPOSE 7472 7473 7946/udp
LABEL org.opencontainers.image.title="fulcrum" \
      org.opencontainers.image.description="Bare-metal LoadBalancer provider for Kubernetes: address allocator, ARP/NDP speaker and proxy" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65534:65534
ENTRYPOINT ["/opt/fulcrum/bin/fulcrum"]
CMD ["--help"]
