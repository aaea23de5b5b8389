# nslab in a container, for operators who deploy that way. The lab creates namespaces, cgroups
# and mounts for every learner, so the container needs the host's privileges for that:
#
#   docker build -t nslab .
#   docker run --rm --privileged --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
#     -p 3000:3000 nslab
#
# For strangers on the internet, run nslab in a VM of its own (see ARCHITECTURE.md, "Threat
# model"): a container shares the host kernel, and so do the learners' sandboxes.
FROM node:20-bookworm

# A C compiler for the launcher; iproute2, procps, psmisc, less and util-linux become part of
# the sandbox image the learners' root filesystems start from.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev python3 make g++ iproute2 procps psmisc less util-linux \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/nslab
ENV NEXT_TELEMETRY_DISABLED=1 NODE_ENV=production PORT=3000 HOST=0.0.0.0
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY native ./native
# npm ci runs scripts/setup.mjs: builds build/nslab-launcher and /var/lib/nslab/rootfs.
RUN npm ci --include=dev --no-audit --no-fund
COPY . .
# With the sources in: compiles the server and the CLI into dist/ (the server runs that, not
# tsx), then the web app.
RUN node scripts/setup.mjs && npx next build

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:3000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "scripts/start.mjs"]
