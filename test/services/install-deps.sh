#!/usr/bin/env bash
# Installs every Debian and npm package invoiceflow needs to build, run and test.
# Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEB_PACKAGES=(
  build-essential pkg-config clang libclang-rt-14-dev
  postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-contrib
  libipc-run-perl
  libcurl4-openssl-dev libssl-dev libjansson-dev libmicrohttpd-dev librabbitmq-dev libxml2-dev
  libmupdf-dev mupdf-tools libmujs-dev libgumbo-dev libopenjp2-7-dev libjbig2dec0-dev
  libharfbuzz-dev libjpeg-dev libfreetype-dev
  libtesseract-dev libleptonica-dev tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra
  tesseract-ocr-nld tesseract-ocr-spa tesseract-ocr-ita
  libseccomp-dev
  libicu-dev liblzma-dev zlib1g-dev libpng-dev libbrotli-dev  # static archives: the processor's front end and child
  rabbitmq-server python3-botocore
  libgmime-3.0-dev dovecot-imapd openssl
  wrk valgrind curl poppler-utils acl
  chromium fonts-dejavu-core
)

missing=()
# Node.js: the machine's own (with npm) if there is one, Debian's otherwise.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# s3rver, the S3-compatible test server, pinned in test/services/package.json
if [ ! -x test/services/node_modules/s3rver/bin/s3rver.js ] && [ ! -f test/services/node_modules/s3rver/bin/s3rver.js ]; then
  echo "install-deps: installing s3rver (npm)"
  (cd test/services && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

# playwright-core (pinned in test/browser/package.json) drives Debian's chromium in
# the web page's tests (t/700_web.pl); it never downloads a browser
if [ ! -f test/browser/node_modules/playwright-core/package.json ]; then
  echo "install-deps: installing playwright-core (npm)"
  (cd test/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
