#!/usr/bin/env bash
# A private Postfix instance with Cyrus SASL on loopback, for the SMTP probe's integration tier
# and benchmark (issue 3, item 6).
#
#   ci/postfix/setup.sh DIR --cert FILE --key FILE [--submission-port N] [--submissions-port N]
#                           [--login-only-port N]
#   ci/postfix/stop.sh DIR
#
# Needs root and Debian's packages: postfix, sasl2-bin, libsasl2-modules. Idempotent: running it
# again rewrites the configuration and reloads (or starts) the instance.
#
# What it builds, all under DIR (the system instance in /etc/postfix is never configured or used;
# Debian's own postfix service is stopped if the package started it):
#
#   DIR/etc     config_directory  (main.cf, master.cf, lookup tables)
#   DIR/queue   queue_directory   (must stay empty: the tests check it)
#   DIR/data    data_directory
#   DIR/etc/sasl  Cyrus SASL application configs (smtpd.conf, smtpd-login.conf). Debian's
#               Postfix looks for them in $config_directory/sasl whatever cyrus_sasl_config_path
#               says; upstream Postfix uses cyrus_sasl_config_path, which is set to the same place.
#   DIR/sasldb2 the Cyrus sasldb with the two test users
#   DIR/tls     copies of the certificate and key
#   DIR/log/postfix.log   maillog_file
#   DIR/credentials       the users' passwords (root-only), "login password" per line
#
# Services, 127.0.0.1 only (IPv4):
#   submission       STARTTLS, AUTH PLAIN LOGIN          (default port 10587)
#   submissions      implicit TLS, AUTH PLAIN LOGIN      (default port 10465)
#   submission-login STARTTLS, AUTH LOGIN only           (default port 10588)
# All require TLS before AUTH (smtpd_tls_auth_only) and AUTH before MAIL FROM; MAIL FROM must be
# owned by the login (smtpd_sender_login_maps + reject_sender_login_mismatch, checked at MAIL
# FROM because smtpd_delay_reject=no); RCPT TO is accepted only for AUTHORISED_RECIPIENT.
#
# No mail can leave: every transport is discard:, the end-of-data restriction DISCARDs anything
# that got that far, and master.cf has no smtp/lmtp/local/virtual/pipe client at all, so even a
# misrouted message could only sit in the queue.
#
# Users (login = sasl user@realm):
#   postmaster@mg.acme-shop.example  owns @mg.acme-shop.example
#   other@mg.other.example           owns @mg.other.example
# Passwords come from SENDREADY_PF_ACME_PASSWORD and SENDREADY_PF_OTHER_PASSWORD (environment, so
# they are not on a command line); unset ones are generated. Either way they are written to
# DIR/credentials.
#
# Output: one line per service, "name=127.0.0.1:port", after the ports accept connections.
#
# Environment: the port options can also be given as SENDREADY_PF_SUBMISSION_PORT,
# SENDREADY_PF_SUBMISSIONS_PORT, SENDREADY_PF_LOGIN_ONLY_PORT; --cert/--key as SENDREADY_PF_CERT,
# SENDREADY_PF_KEY. SENDREADY_PF_KEEP_SYSTEM_POSTFIX=1 leaves Debian's postfix service alone.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

ACME_LOGIN=postmaster@mg.acme-shop.example
OTHER_LOGIN=other@mg.other.example
AUTHORISED_RECIPIENT=ops@acme-shop.example

die() { echo "setup.sh: $*" >&2; exit 1; }
usage() {
    echo "usage: $0 DIR --cert FILE --key FILE [--submission-port N] [--submissions-port N] [--login-only-port N]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
case $1 in -*) usage ;; esac
dir_arg=$1
shift
cert=${SENDREADY_PF_CERT:-}
key=${SENDREADY_PF_KEY:-}
submission_port=${SENDREADY_PF_SUBMISSION_PORT:-10587}
submissions_port=${SENDREADY_PF_SUBMISSIONS_PORT:-10465}
login_only_port=${SENDREADY_PF_LOGIN_ONLY_PORT:-10588}
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case $1 in
        --cert) cert=$2 ;;
        --key) key=$2 ;;
        --submission-port) submission_port=$2 ;;
        --submissions-port) submissions_port=$2 ;;
        --login-only-port) login_only_port=$2 ;;
        *) usage ;;
    esac
    shift 2
done

[ "$(id -u)" = 0 ] || die "must run as root (Postfix's master and its queue need it)"
command -v postfix >/dev/null || die "postfix is not installed (apt-get install postfix sasl2-bin libsasl2-modules)"
command -v saslpasswd2 >/dev/null || die "saslpasswd2 is not installed (apt-get install sasl2-bin)"
id postfix >/dev/null 2>&1 || die "no 'postfix' user; is the postfix package installed?"
getent group postdrop >/dev/null || die "no 'postdrop' group; is the postfix package installed?"
[ -n "$cert" ] && [ -r "$cert" ] || die "--cert FILE (PEM certificate chain) is required and must be readable"
[ -n "$key" ] && [ -r "$key" ] || die "--key FILE (PEM private key) is required and must be readable"
for p in "$submission_port" "$submissions_port" "$login_only_port"; do
    case $p in ''|*[!0-9]*) die "port '$p' is not a number" ;; esac
    [ "$p" -ge 1024 ] && [ "$p" -le 65535 ] || die "port $p: use a high port (1024-65535)"
done

mkdir -p "$dir_arg"
dir=$(cd "$dir_arg" && pwd -P)
case $dir in *[[:space:],=\$]*) die "DIR must not contain spaces, commas, '=' or '\$': $dir" ;; esac
conf=$dir/etc

# Debian's package may have started the system instance (it does not, with "No configuration",
# but a CI image may differ). Ours does not need its ports, but a second master on the machine
# sending real mail is what this whole setup must never risk.
if [ "${SENDREADY_PF_KEEP_SYSTEM_POSTFIX:-0}" != 1 ]; then
    (service postfix stop || systemctl stop postfix || true) >/dev/null 2>&1
fi

# -- directories and permissions ------------------------------------------------------------------
# DIR and every parent must be traversable by the postfix user (it reads the sasldb and writes the
# data directory); a 0700 temporary directory would fail at the first login, so check now.
install -d -m 0755 -o root -g root "$dir" "$conf" "$conf/sasl" "$dir/log"
install -d -m 0700 -o root -g root "$dir/tls"
install -d -m 0755 -o root -g root "$dir/queue"
install -d -m 0700 -o postfix -g postfix "$dir/data"
runuser -u postfix -- test -x "$dir" \
    || die "the postfix user cannot reach $dir; make it and its parents world-searchable (chmod o+x)"

install -m 0644 -o root -g root "$cert" "$dir/tls/cert.pem"
# smtpd reads the key as root before it drops privileges; keep it root-only.
install -m 0600 -o root -g root "$key" "$dir/tls/key.pem"

# -- users --------------------------------------------------------------------------------------
gen_password() { head -c 18 /dev/urandom | base64 | tr -d '/+=\n'; }
acme_password=${SENDREADY_PF_ACME_PASSWORD:-$(gen_password)}
other_password=${SENDREADY_PF_OTHER_PASSWORD:-$(gen_password)}

sasldb=$dir/sasldb2
rm -f "$sasldb" "$sasldb".*
add_user() {  # login password: store as user "local" in realm "domain", so that the login
    local login=$1 password=$2  # "local@domain" is what Cyrus looks up and what Postfix reports
    printf '%s' "$password" | saslpasswd2 -c -p -f "$sasldb" -u "${login#*@}" "${login%@*}"
}
add_user "$ACME_LOGIN" "$acme_password"
add_user "$OTHER_LOGIN" "$other_password"
chown root:postfix "$sasldb"
chmod 0640 "$sasldb"
runuser -u postfix -- test -r "$sasldb" || die "the postfix user cannot read $sasldb"

umask 077
printf '%s %s\n%s %s\n' "$ACME_LOGIN" "$acme_password" "$OTHER_LOGIN" "$other_password" >"$dir/credentials.tmp"
mv -f "$dir/credentials.tmp" "$dir/credentials"
umask 022

# -- Cyrus SASL ---------------------------------------------------------------------------------
write_sasl_conf() {
    cat >"$1" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $sasldb
mech_list: $2
EOF
    chmod 0644 "$1"
}
write_sasl_conf "$conf/sasl/smtpd.conf" "PLAIN LOGIN"
write_sasl_conf "$conf/sasl/smtpd-login.conf" "LOGIN"

# -- lookup tables (texthash: no postmap, read at process start) --------------------------------
cat >"$conf/sender_logins" <<EOF
# sender (or @domain)      logins allowed to use it in MAIL FROM
@${ACME_LOGIN#*@}    $ACME_LOGIN
@${OTHER_LOGIN#*@}    $OTHER_LOGIN
EOF
cat >"$conf/recipient_access" <<EOF
# the only recipient the probe may name; everything else is rejected with 554
$AUTHORISED_RECIPIENT    OK
EOF

# -- main.cf ------------------------------------------------------------------------------------
cat >"$conf/main.cf" <<EOF
# Generated by ci/postfix/setup.sh; rewritten on every run.
compatibility_level = 3.6
config_directory = $conf
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop

maillog_file = $dir/log/postfix.log
maillog_file_prefixes = $dir
syslog_name = sendready-postfix

myhostname = smtp.test.example
mydomain = test.example
myorigin = \$myhostname
mydestination =
local_recipient_maps =
relay_domains =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32

# Nothing is ever delivered: every address class goes to discard, and master.cf has no client
# that could deliver anywhere.
default_transport = discard:sendready test instance
relay_transport = discard:sendready test instance
local_transport = discard:sendready test instance
virtual_transport = discard:sendready test instance
notify_classes =

# Submission policy, evaluated command by command (so a foreign sender fails at MAIL FROM).
smtpd_delay_reject = no
smtpd_helo_required = yes
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_login_maps = texthash:$conf/sender_logins
smtpd_sender_restrictions = reject_sender_login_mismatch, permit_sasl_authenticated, reject
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = check_recipient_access texthash:$conf/recipient_access, reject
smtpd_data_restrictions = permit_sasl_authenticated, reject
smtpd_end_of_data_restrictions = check_client_access static:DISCARD
smtpd_error_sleep_time = 0s
# Every accepted RCPT opens a queue file and takes a flow-control token that only qmgr gives back
# when it picks up a message; probes RSET instead, so after a few hundred probes each RCPT would
# wait in_flow_delay (1 s) for a token. Off: this instance only ever sees aborted transactions.
in_flow_delay = 0s
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0

# Cyrus SASL from DIR/etc/sasl/<smtpd_sasl_path>.conf, users in DIR/sasldb2.
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $conf/sasl
smtpd_sasl_local_domain =
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no

smtpd_tls_cert_file = $dir/tls/cert.pem
smtpd_tls_key_file = $dir/tls/key.pem
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_session_cache_database =
smtpd_tls_loglevel = 0
EOF

# -- master.cf: only what an SMTP server that discards everything needs -------------------------
cat >"$conf/master.cf" <<EOF
# Generated by ci/postfix/setup.sh. No chroot; no smtp/lmtp/local/virtual/pipe delivery agents.
# service          type  private unpriv chroot wakeup maxproc command + args
127.0.0.1:$submission_port inet n - n - - smtpd
  -o syslog_name=sendready-postfix/submission
127.0.0.1:$submissions_port inet n - n - - smtpd
  -o syslog_name=sendready-postfix/submissions
  -o smtpd_tls_wrappermode=yes
127.0.0.1:$login_only_port inet n - n - - smtpd
  -o syslog_name=sendready-postfix/submission-login
  -o smtpd_sasl_path=smtpd-login
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
chmod 0644 "$conf/main.cf" "$conf/master.cf" "$conf/sender_logins" "$conf/recipient_access"

# -- start (or reload) ----------------------------------------------------------------------------
pf() { postfix -c "$conf" "$@"; }
pf check >/dev/null 2>&1 || pf check  # creates the queue directories; shows errors if any
if pf status >/dev/null 2>&1; then
    pf reload >/dev/null 2>&1
else
    pf start >/dev/null 2>&1 || { tail -n 20 "$dir/log/postfix.log" >&2 2>/dev/null || true; die "postfix did not start"; }
fi

wait_port() {  # until something accepts TCP on 127.0.0.1:$1 (bash's /dev/tcp; no traffic beyond connect)
    local port=$1 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$dir/log/postfix.log" >&2 2>/dev/null || true
    die "nothing listens on 127.0.0.1:$port after 10 s"
}
wait_port "$submission_port"
wait_port "$submissions_port"
wait_port "$login_only_port"

echo "submission=127.0.0.1:$submission_port"
echo "submissions=127.0.0.1:$submissions_port"
echo "submission-login=127.0.0.1:$login_only_port"
