# llm-proxy as a container: the compiled binary on a minimal glibc base, run as a non-root user
# (by number, 65532, so that Kubernetes' runAsNonRoot accepts it) and configured by environment
# variables alone.
#
#   docker build -t llm-proxy .
#   docker run --rm -p 127.0.0.1:8000:8000 -e INTERNAI_API_KEY=your-key llm-proxy

# Build: the official Deno image, same version as deno.json's tooling; `deno task compile` bakes in
# the proxy's permissions and checks that the binary runs (`llm-proxy --version`).
FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY src/ src/
COPY scripts/ scripts/
RUN deno task compile

# Run: distroless "cc" has the C runtime a Deno binary needs, and no shell or package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/dist/llm-proxy /usr/local/bin/llm-proxy
# Listen on every interface of the container; publish or expose the port deliberately.
ENV LLM_PROXY_HOST=0.0.0.0 \
    LLM_PROXY_PORT=8000 \
    LLM_PROXY_DRAIN_TIMEOUT=30
# distroless' "nonroot" user, by number: Kubernetes' runAsNonRoot cannot verify a user name.
USER 65532:65532
EXPOSE 8000
# SIGTERM drains in-flight requests for LLM_PROXY_DRAIN_TIMEOUT seconds, then exits 0: give the
# runtime's stop timeout a few seconds more than that (docker stop -t 35, stop_grace_period: 35s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/llm-proxy", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/llm-proxy"]
