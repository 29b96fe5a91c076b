#!/usr/bin/env bash
# Creates a throwaway certificate authority and everything a test or a demo
# of hvdr needs to run with TLS and tokens (openssl from Debian). Never for
# production: the CA key sits beside the certificates it signed.
#
#   tools/mkcerts.sh DIR [--hosts h1,h2,...] [--clients id1,id2,...]
#                        [--tokens id:role[+role...],...] [--days N]
#                        [--expired id1,...]
#
# Writes into DIR (created, mode 0700; keys 0600):
#   ca.crt ca.key                 the CA (ca.key: only to sign more)
#   drserver.crt drserver.key     drserver: serves clients (SANs DNS:drserver,
#                                 DNS:localhost, IP:127.0.0.1) and is the
#                                 client certificate it shows the agents
#                                 (its identity: "drserver")
#   agent-<host>.crt .key         one per --hosts entry: the agent of <host>
#                                 (SANs DNS:<host>, DNS:localhost,
#                                 IP:127.0.0.1); drserver checks the name
#   client-<id>.crt .key          one per --clients entry: a client
#                                 certificate whose identity (SAN) is <id>
#   expired-<id>.crt .key         one per --expired entry: a client
#                                 certificate of <id> that expired yesterday
#   tokens.json tokens.txt        one bearer token per --tokens entry:
#                                 tokens.json holds only SHA-256 hashes with
#                                 the identity and roles (drserver's
#                                 --tokens_file); tokens.txt the tokens
#                                 themselves, "<id> <token>" per line (0600)
# Defaults: --hosts hv-prod-1,hv-dr-1 --days 30, no clients, no tokens.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ "$#" -ge 1 ] || usage
dir=$1
shift
hosts="hv-prod-1,hv-dr-1"
clients=""
tokens=""
expired=""
days=30
while [ "$#" -gt 0 ]; do
  case "$1" in
    --hosts) hosts=${2:?--hosts needs a value}; shift 2 ;;
    --clients) clients=${2:?--clients needs a value}; shift 2 ;;
    --tokens) tokens=${2:?--tokens needs a value}; shift 2 ;;
    --days) days=${2:?--days needs a value}; shift 2 ;;
    --expired) expired=${2:?--expired needs a value}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "mkcerts: unknown argument $1" >&2; usage ;;
  esac
done
command -v openssl > /dev/null || {
  echo "mkcerts: openssl not found (apt-get install openssl)" >&2
  exit 1
}
valid_name() { [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$ ]]; }

umask 077
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"

if [ ! -f ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=hvdr throwaway CA" -keyout ca.key -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2> /dev/null
fi

# issue NAME SANS EKU [DAYS]: NAME.key and NAME.crt signed by the CA.
issue() {
  local name=$1 sans=$2 eku=$3 valid=${4:-$days}
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=${name}" \
    -keyout "${name}.key" -out "${name}.csr" 2> /dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nkeyUsage=critical,digitalSignature\n' \
    "$sans" "$eku" > "${name}.ext"
  openssl x509 -req -in "${name}.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$valid" \
    -extfile "${name}.ext" -out "${name}.crt" 2> /dev/null
  rm -f "${name}.csr" "${name}.ext"
  chmod 600 "${name}.key"
  chmod 644 "${name}.crt"
}

issue drserver "DNS:drserver,DNS:localhost,IP:127.0.0.1" "serverAuth,clientAuth"
IFS=, read -r -a host_list <<< "$hosts"
for h in "${host_list[@]}"; do
  [ -n "$h" ] || continue
  valid_name "$h" || { echo "mkcerts: bad host name '$h'" >&2; exit 2; }
  issue "agent-$h" "DNS:${h},DNS:localhost,IP:127.0.0.1" "serverAuth"
done
# clients PREFIX DAYS LIST: a client certificate PREFIX-<id> per id of the
# comma-separated LIST, its identity an email SAN (ids with @) or a DNS SAN.
clients() {
  local prefix=$1 valid=$2 list c
  IFS=, read -r -a list <<< "$3"
  for c in "${list[@]}"; do
    [ -n "$c" ] || continue
    valid_name "$c" || { echo "mkcerts: bad client identity '$c'" >&2; exit 2; }
    if [[ "$c" == *@* ]]; then
      issue "$prefix-$c" "email:${c}" "clientAuth" "$valid"
    else
      issue "$prefix-$c" "DNS:${c}" "clientAuth" "$valid"
    fi
  done
}
clients client "$days" "$clients"
clients expired -1 "$expired"

if [ -n "$tokens" ]; then
  IFS=, read -r -a token_list <<< "$tokens"
  json="{\"tokens\": ["
  sep=""
  : > tokens.txt
  for entry in "${token_list[@]}"; do
    id=${entry%%:*}
    roles=${entry#*:}
    if [ "$id" = "$entry" ] || ! valid_name "$id" || [ -z "$roles" ]; then
      echo "mkcerts: bad --tokens entry '$entry' (want identity:role[+role...])" >&2
      exit 2
    fi
    token="hvdr_$(openssl rand -hex 24)"
    hash=$(printf '%s' "$token" | openssl dgst -sha256 -r | cut -d' ' -f1)
    role_json=$(printf '%s' "$roles" | sed 's/+/", "/g')
    json+="${sep}
  {\"identity\": \"${id}\", \"roles\": [\"${role_json}\"], \"sha256\": \"${hash}\"}"
    sep=","
    printf '%s %s\n' "$id" "$token" >> tokens.txt
  done
  json+="
]}"
  printf '%s\n' "$json" > tokens.json
  chmod 600 tokens.txt
  chmod 640 tokens.json
fi
rm -f ca.srl
echo "mkcerts: wrote $(ls | tr '\n' ' ')in $PWD"
