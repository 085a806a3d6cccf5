# The exporter as a container image: a static binary on distroless, run as
# an unprivileged user.
#
#   make docker        # or: docker build -t covoiturage_exporter .
#
# The configuration and the secret files it names (token_file,
# secret_key_file, id files; relative paths are resolved against the
# configuration file's directory) are mounted read-only at
# /etc/covoiturage_exporter, readable by uid 65532:
#
#   docker run -d -p 9896:9896 \
#     -v /srv/covoiturage:/etc/covoiturage_exporter:ro covoiturage_exporter
#
# The demo needs no mount: docker run -p 9896:9896 covoiturage_exporter --demo
#
# The tracked journeys and the counters' totals are kept in the volume
# /var/lib/covoiturage_exporter (--storage.path), owned by uid 65532: give
# it a named volume so that a new container goes on where the last one
# stopped, e.g. -v covoiturage-data:/var/lib/covoiturage_exporter.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# What `covoiturage_exporter --version` and covoiturage_exporter_build_info
# report; the Makefile's docker target fills them in from git.
ARG VERSION=unknown
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_USER=docker
ARG BUILD_DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=${BUILD_USER} \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
      -o /out/bin/covoiturage_exporter . \
 && mkdir -p /out/etc/covoiturage_exporter /out/var/lib/covoiturage_exporter

# distroless/static: CA certificates (the registry is reached over HTTPS),
# tzdata, /etc/passwd with the nonroot user (65532), and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/covoiturage_exporter /bin/covoiturage_exporter
COPY --from=build /out/etc/covoiturage_exporter /etc/covoiturage_exporter
# Owned by the user before VOLUME: a new named volume copies the
# directory's owner and mode, so the exporter can write to it.
COPY --from=build --chown=65532:65532 /out/var/lib/covoiturage_exporter /var/lib/covoiturage_exporter
VOLUME ["/var/lib/covoiturage_exporter"]
USER 65532:65532
EXPOSE 9896
ENTRYPOINT ["/bin/covoiturage_exporter"]
CMD ["--config.file=/etc/covoiturage_exporter/covoiturage.yml", "--storage.path=/var/lib/covoiturage_exporter"]
