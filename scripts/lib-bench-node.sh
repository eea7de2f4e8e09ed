# Shared by the benchmarks that need a node: builds the dist binary (release with fat LTO) and the test images,
# then starts `kapi server` with its node in a network namespace of its own (node address
# 10.250.0.10, a registry of the test images on its loopback), as the acceptance scenarios do.
# Defines `in_ns CMD...`, `$work`, `$server` and `$kapi`, and cleans everything up on exit.
if [[ -z ${KAPI_BIN:-} ]]; then
  cargo build --profile dist -j2 >/dev/null
fi
kapi=${KAPI_BIN:-$PWD/target/dist/kapi}
acceptance=$(cd ../shared/acceptance && pwd)
"$acceptance/images.sh" build >/dev/null
work=$(mktemp -d)
ns=kapi-bench-$$
cleanup() {
  [[ -n ${server:-} ]] && kill "$server" 2>/dev/null || true
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  # The containers' mounts outlive their killed runtime; lazily unmount them first.
  awk -v w="$work" '$2 ~ "^" w {print $2}' /proc/mounts | sort -r | xargs -r umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add kapi-node0 type bridge
ip -n "$ns" addr add 10.250.0.10/24 dev kapi-node0
ip -n "$ns" link set kapi-node0 up
ip -n "$ns" route add default dev kapi-node0
in_ns() { nsenter --net="/run/netns/$ns" "$@"; }
in_ns "$acceptance/images.sh" registry 5000 "$work/registry" >/dev/null
until in_ns curl -sf http://127.0.0.1:5000/v2/ >/dev/null; do sleep 0.1; done
in_ns "$acceptance/images.sh" push 127.0.0.1:5000 >/dev/null
mkdir -p "$work/data"
printf 'mirrors:\n' >"$work/data/registries.yaml"
for name in 127.0.0.1:5000 docker.io registry.k8s.io; do
  printf '  "%s":\n    endpoint: ["http://127.0.0.1:5000"]\n' "$name" >>"$work/data/registries.yaml"
done
nsenter --net="/run/netns/$ns" "$kapi" server --data-dir "$work/data" --listen 0.0.0.0:6443 >"$work/server.log" 2>&1 &
server=$!
export KUBECONFIG=$work/data/admin.kubeconfig
until [[ -s $KUBECONFIG ]] && in_ns kubectl get --raw /readyz >/dev/null 2>&1; do sleep 0.1; done
until in_ns kubectl get nodes 2>/dev/null | grep -q ' Ready'; do sleep 0.2; done
