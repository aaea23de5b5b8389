# nslab in a container, for operators who deploy that way. The lab creates namespaces, cgroups
# and mounts for every learner, so the container needs the host's privileges for that:
#
#   docker build -t nslab .
#   docker run --rm --privileged --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
#     -v nslab-data:/var/lib/nslab -p 3000:3000 nslab
#
# The data volume is not optional: the sandbox image is mounted idmapped, which the container's
# own OverlayFS root does not allow, and the database and the learners' layers live there too.
# README.md ("In a container") says why each privilege is needed. For strangers on the
# internet, run nslab in a VM of its own (ARCHITECTURE.md, "Threat model"): a container shares
# the host kernel, and so do the learners' sandboxes.

# --- build: the full Node image has the C and C++ compilers and Python that node-gyp, the
# launcher and the spawner are built with. Nothing of it but /opt/nslab reaches the runtime.
FROM node:20-bookworm AS build
WORKDIR /opt/nslab
# No apt-get here: the tools the sandbox image is made of are the runtime's own (below), and
# the image this stage's setup builds from its packages is left behind with the stage.
ENV NEXT_TELEMETRY_DISABLED=1 NSLAB_NO_APT=1
COPY package.json package-lock.json .npmrc ./
COPY scripts ./scripts
COPY native ./native
# npm ci runs scripts/setup.mjs: the launcher and the spawner (static), and the native addons.
RUN npm ci --include=dev --no-audit --no-fund
COPY . .
# With the sources in: the web app (its type check needs the development packages), then the
# development packages go, then the server and the CLI are compiled into dist/ (the server runs
# that, not tsx). In that order because npm prune rewrites package-lock.json, which the
# compiled server's freshness check reads: compiled before it, the server would be compiled
# again at every container's first start.
RUN npx next build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node scripts/setup.mjs \
 && rm -rf .next/cache

# --- runtime: Node and the packages the sandbox image is assembled from at start, no compiler.
FROM node:20-bookworm-slim AS runtime
# iproute2, procps, psmisc, less and util-linux: the lessons' tools, copied into the sandbox
# image from this system's packages (native/rootfs.mjs). e2fsprogs: each learner's writable
# layer is an ext4 image. tini: PID 1 that reaps whatever is reparented to it and passes
# SIGTERM on, so a `docker stop` ends the lab's sessions cleanly.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iproute2 procps psmisc less util-linux e2fsprogs tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/nslab
ENV NEXT_TELEMETRY_DISABLED=1 NODE_ENV=production PORT=3000 HOST=0.0.0.0
COPY --from=build /opt/nslab /opt/nslab
VOLUME ["/var/lib/nslab"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:3000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["tini", "--"]
# Finds everything built (nothing is rebuilt: the sources' dates came with them) but the
# sandbox image, which it assembles on the data volume at the first start, then serves.
CMD ["node", "scripts/start.mjs"]
