# kha test host with keepalived and haproxy already installed ("preinstalled" lab hosts), for the
# integration tests that are not about installing: it saves each of them apt's download, unpack and
# configure time. Built FROM the plain test host (BASE, default kha-host:1) by
# docker/build-image.sh --ready, with the same content hash label.
# Installed as kha's own "install keepalived, haproxy" task installs them: --no-install-recommends,
# the units enabled by the packages' postinst. kha's install keeps them from starting (policy-rc.d);
# here haproxy would start at boot with the package's config, so the lab stops both once the host is
# up (src/lab: preinstalled hosts), which leaves exactly the state of kha's install: enabled, stopped.
ARG BASE=kha-host:1
FROM ${BASE}
ARG READY_PKGS="keepalived haproxy"
RUN set -eu; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $READY_PKGS; \
    rm -rf /var/lib/apt/lists/*; \
    apt-get clean
