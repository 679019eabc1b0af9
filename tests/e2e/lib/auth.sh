# Sourced by tests/e2e/mailstack.sh --auth: the mail-authentication stack and its mix.
#
# On top of the mail stack: policyd-spf (postfix-policyd-spf-python, a Postfix spawn policy
# service), OpenDKIM (signs mail of authenticated submission clients for vmail.test, verifies
# everything else) and OpenDMARC as milters, and rspamd's own SPF/DKIM/DMARC/ARC checks switched
# on for the loopback clients. The DNS stub serves SPF, DKIM and DMARC records for the test
# domains (the DKIM keys are made at run time with opendkim-genkey).
#
# Who enforces what, so that every count has one cause:
#   SPF -all: policyd-spf rejects at RCPT (Mail_From_reject = Fail); rspamd never sees it.
#   DMARC p=reject: OpenDMARC rejects at end of message (RejectFailures). rspamd only reports:
#     it runs before OpenDMARC in smtpd_milters, so it logs its verdict for that message too,
#     and its dmarc module has no 'actions' (its default), so it scores but never rejects.
#   DMARC p=quarantine: OpenDMARC reports only (HoldQuarantinedMessages is off by default).
# Functions used by mailstack.sh: auth_configure, auth_start, auth_mix, auth_expectations,
# auth_write_expected. Everything runs in the private mount namespace mailstack.sh sets up for
# --auth, where /etc/resolv.conf names the DNS stub (policyd-spf's pydns and OpenDMARC's
# resolver read it and have no setting of their own).

P_DKIM=8891 P_DMARC=8893
DKIM_SELECTOR=e2e
# the test's own domain: submission mail From: alice@vmail.test is signed on its way out
OWN_DOMAIN=vmail.test
# test domain -> what its DNS says (see the mix table in tests/e2e/README.md)
AUTH_ZONE=(
    "pass.test TXT v=spf1 ip4:127.0.0.1 -all"
    "mail.pass.test A 127.0.0.1"
    "mail.pass.test TXT v=spf1 ip4:127.0.0.1 -all"
    "_dmarc.pass.test TXT v=DMARC1; p=reject"
    "spffail.test TXT v=spf1 -all"
    "softfail.test TXT v=spf1 ~all"
    "badsig.test TXT v=spf1 ip4:127.0.0.1 -all"
    "_dmarc.badsig.test TXT v=DMARC1; p=none"
    "nokey.test TXT v=spf1 ip4:127.0.0.1 -all"
    "dmarcreject.test TXT v=spf1 ?all"
    "_dmarc.dmarcreject.test TXT v=DMARC1; p=reject"
    "dmarcquar.test TXT v=spf1 ?all"
    "_dmarc.dmarcquar.test TXT v=DMARC1; p=quarantine"
    "vmail.test TXT v=spf1 ip4:127.0.0.1 -all"
    "_dmarc.vmail.test TXT v=DMARC1; p=none"
)
# domains with a key pair; nokey.test signs but publishes no key
DKIM_DOMAINS=(pass.test badsig.test nokey.test "$OWN_DOMAIN")
DKIM_PUBLISHED=(pass.test badsig.test "$OWN_DOMAIN")

auth_configure() {
    step "auth: DKIM keys (opendkim-genkey), DNS records, policyd-spf, OpenDKIM, OpenDMARC"
    local d K="$W/dkim"
    mkdir -p "$K"
    for d in "${DKIM_DOMAINS[@]}"; do
        opendkim-genkey -b 2048 -d "$d" -s "$DKIM_SELECTOR" -D "$K" >>"$W/logs/opendkim-genkey.out" 2>&1 ||
            fail "opendkim-genkey for $d failed (see $W/logs/opendkim-genkey.out)"
        mv "$K/$DKIM_SELECTOR.private" "$K/$d.private"
        mv "$K/$DKIM_SELECTOR.txt" "$K/$d.txt"
    done
    chown -R opendkim:opendkim "$K"
    chmod 700 "$K"; chmod 600 "$K"/*.private

    {
        printf '%s\n' "${AUTH_ZONE[@]}"
        for d in "${DKIM_PUBLISHED[@]}"; do
            # the public half of the key, read from the private key (not from genkey's zone text)
            echo "$DKIM_SELECTOR._domainkey.$d TXT v=DKIM1; k=rsa; p=$(openssl rsa -in "$K/$d.private" -pubout \
                -outform DER 2>/dev/null | base64 -w0)"
        done
    } >"$W/dns-zone.txt"

    # resolv.conf for the private mount namespace (bind-mounted over /etc/resolv.conf)
    echo "nameserver 127.0.0.1" >"$W/resolv.conf"
    mount --bind "$W/resolv.conf" /etc/resolv.conf || fail "cannot bind-mount $W/resolv.conf over /etc/resolv.conf"

    # ---- policyd-spf: the packaged defaults, but loopback is not skipped ----
    cat >"$W/policyd-spf.conf" <<EOF
debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 192.0.2.0/24
EOF
    chmod 644 "$W/policyd-spf.conf"

    # ---- OpenDKIM: verify everything, sign what authenticated clients send for $OWN_DOMAIN ----
    mkdir -p "$W/opendkim"
    # 127.0.0.1 is the "internet" here: no internal hosts (the default would be 127.0.0.1)
    echo "192.0.2.1" >"$W/opendkim/internal-hosts"
    echo "*@$OWN_DOMAIN $DKIM_SELECTOR._domainkey.$OWN_DOMAIN" >"$W/opendkim/signing-table"
    echo "$DKIM_SELECTOR._domainkey.$OWN_DOMAIN $OWN_DOMAIN:$DKIM_SELECTOR:$K/$OWN_DOMAIN.private" \
        >"$W/opendkim/key-table"
    # OpenDKIM resolves with libunbound, which will not query 127.0.0.1 unless told so and
    # answers names under test. itself (RFC 6761) unless that default zone is switched off
    cat >"$W/opendkim/unbound.conf" <<EOF
server:
    do-not-query-localhost: no
    local-zone: "test." nodefault
EOF
    # RequireSafeKeys off: the key sits under /tmp, which is world-writable (sticky)
    cat >"$W/opendkim/opendkim.conf" <<EOF
Syslog                 yes
SyslogSuccess          yes
LogWhy                 yes
UserID                 opendkim:opendkim
Socket                 inet:$P_DKIM@127.0.0.1
Mode                   sv
Canonicalization       relaxed/simple
AuthservID             $HOST
InternalHosts          $W/opendkim/internal-hosts
SigningTable           refile:$W/opendkim/signing-table
KeyTable               $W/opendkim/key-table
Nameservers            127.0.0.1
ResolverConfiguration  $W/opendkim/unbound.conf
RequireSafeKeys        false
DNSTimeout             5
On-DNSError            accept
On-KeyNotFound         accept
On-BadSignature        accept
EOF

    # ---- OpenDMARC: enforce p=reject; trust OpenDKIM's Authentication-Results ----
    mkdir -p "$W/opendmarc"
    echo "192.0.2.1" >"$W/opendmarc/ignore-hosts"
    cat >"$W/opendmarc/opendmarc.conf" <<EOF
Syslog                  true
SyslogFacility          mail
UserID                  opendmarc:opendmarc
Socket                  inet:$P_DMARC@127.0.0.1
AuthservID              $HOST
TrustedAuthservIDs      $HOST
IgnoreHosts             $W/opendmarc/ignore-hosts
IgnoreAuthenticatedClients true
RejectFailures          true
SPFSelfValidate         true
PublicSuffixList        /usr/share/publicsuffix/public_suffix_list.dat
EOF
    [[ -r /usr/share/publicsuffix/public_suffix_list.dat ]] || sed -i '/^PublicSuffixList/d' "$W/opendmarc/opendmarc.conf"

    # ---- rspamd: check SPF/DKIM/DMARC/ARC on the loopback clients too (default: skipped) ----
    local m
    for m in spf dkim dmarc; do
        printf 'check_local = true;\ncheck_authed = false;\n' >"$R/conf/local.d/$m.conf"
    done
    rm -f "$R/conf/local.d/arc.conf"   # arc was switched off for the mail mix: verify here

    # ---- Postfix: policyd-spf last in the recipient restrictions, the milters beside rspamd ----
    postconf -c "$PFC" -e \
        "smtpd_recipient_restrictions = reject_unlisted_recipient, check_recipient_access texthash:$PFC/recipient_classes, check_policy_service unix:private/policyd-spf" \
        "policyd-spf_time_limit = 3600" \
        "smtpd_milters = inet:127.0.0.1:$P_DKIM, inet:127.0.0.1:$P_MILTER, inet:127.0.0.1:$P_DMARC" ||
        fail "postconf -e failed"
    cat >>"$PFC/master.cf" <<EOF
policyd-spf unix - n n - 0 spawn
  user=policyd-spf argv=/usr/bin/policyd-spf $W/policyd-spf.conf
EOF
}

auth_start() {
    step "auth: start OpenDKIM (127.0.0.1:$P_DKIM) and OpenDMARC (127.0.0.1:$P_DMARC)"
    STARTED+=(opendkim)
    setsid opendkim -f -x "$W/opendkim/opendkim.conf" </dev/null >"$W/logs/opendkim.out" 2>&1 &
    echo $! >"$W/pids/opendkim.pid"
    wait_port tcp $P_DKIM opendkim 20
    STARTED+=(opendmarc)
    setsid opendmarc -f -c "$W/opendmarc/opendmarc.conf" </dev/null >"$W/logs/opendmarc.out" 2>&1 &
    echo $! >"$W/pids/opendmarc.pid"
    wait_port tcp $P_DMARC opendmarc 20
    step "auth: start the remote sink (127.0.0.1:$P_SINK_OK) for signed outbound mail"
    STARTED+=(sink-ok)
    setsid "$PY" "$SCRIPT_DIR/lib/sink.py" --port $P_SINK_OK --pidfile "$W/pids/sink-ok.pid" \
        --name sink.remote.test --tls "$W/tls/cert.pem" "$W/tls/key.pem" --spool "$W/sink-ok.mbox" \
        </dev/null >"$W/logs/sink-ok.out" 2>&1 &
    wait_port tcp $P_SINK_OK sink-ok 10
}

# auth_message ID DOMAIN RCPT [sign|badsig]: write $W/auth/ID.eml, From: test@DOMAIN
auth_message() {
    local id=$1 dom=$2 rcpt=$3 how=${4:-}
    mkdir -p "$W/auth"
    printf 'From: test@%s\nTo: %s\nSubject: pflog e2e %s\nDate: %s\nMessage-Id: <pflog-e2e-%s@%s>\n\nauth mix message %s from %s\n' \
        "$dom" "$rcpt" "$id" "$(date -R)" "$id" "$dom" "$id" "$dom" >"$W/auth/$id.txt"
    if [[ -n $how ]]; then
        opendkim-testmsg -C -d "$dom" -k "$W/dkim/$dom.private" -s "$DKIM_SELECTOR" \
            <"$W/auth/$id.txt" >"$W/auth/$id.eml" 2>"$W/logs/testmsg-$id.out" ||
            fail "opendkim-testmsg could not sign $id (see $W/logs/testmsg-$id.out)"
        # a signature that no longer matches: the body changed after signing
        if [[ $how == badsig ]]; then
            sed -i 's/^auth mix message /auth mix message (changed in transit) /' "$W/auth/$id.eml"
        fi
    else
        cp "$W/auth/$id.txt" "$W/auth/$id.eml"
    fi
}

# auth_send ID EXPECTED_SWAKS_RC DOMAIN RCPT [sign|badsig]: port 25, HELO mail.DOMAIN
auth_send() {
    local id=$1 exp=$2 dom=$3 rcpt=$4 how=${5:-} rc=0
    auth_message "$id" "$dom" "$rcpt" "$how"
    CURRENT_STEP="auth mix $id"
    swaks "${SWAKS_COMMON[@]}" --port $P_SMTP --helo "mail.$dom" --from "test@$dom" --to "$rcpt" \
        --data "$W/auth/$id.eml" >"$W/swaks/$id.log" 2>&1 || rc=$?
    [[ $rc == "$exp" ]] || fail "swaks exited $rc, expected $exp (transcript: $W/swaks/$id.log)"
    log "auth mix $id: ok (swaks exit $rc)"
}

auth_mix() {
    step "auth mix: inbound on port $P_SMTP"
    auth_send a01-pass            0  pass.test        alice@vmail.test sign
    auth_send a02-spf-fail        24 spffail.test     bob@vmail.test
    auth_send a03-spf-softfail    0  softfail.test    bob@vmail.test
    auth_send a04-none            0  none.test        carol@vmail.test
    auth_send a05-dkim-bad        0  badsig.test      alice@vmail.test badsig
    auth_send a06-dkim-nokey      0  nokey.test       carol@vmail.test sign
    auth_send a07-dmarc-reject    26 dmarcreject.test alice@vmail.test
    auth_send a08-dmarc-quar      0  dmarcquar.test   bob@vmail.test
    step "auth mix: outbound on port $P_SUBM (signed by OpenDKIM)"
    send a09-out-signed 0 "${SUB[@]}" --auth-password "$PASSWORD" --to friend@remote.test
}

auth_expectations() {
    expect mail 8 "${PF}postfix/smtpd\[[0-9]+\]: connect from localhost\[127\.0\.0\.1\]$" "smtpd connect"
}

auth_write_expected() {
    echo "# TODO"
}
