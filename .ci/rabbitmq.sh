#!/usr/bin/env bash
# Start a local RabbitMQ 3.x with the AMQP 1.0 plugin, bound to loopback, with
# the test users the broker tests log in as. Idempotent: safe to run again.
set -euo pipefail
cat > /etc/rabbitmq/rabbitmq-env.conf <<'CONF'
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=5672
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CONF
rabbitmq-plugins enable --offline rabbitmq_amqp1_0 >/dev/null
if ! rabbitmqctl -q status >/dev/null 2>&1; then
    service rabbitmq-server start >/dev/null
fi
for i in $(seq 1 30); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
add_user() {
    rabbitmqctl -q add_user "$1" "$2" 2>/dev/null || rabbitmqctl -q change_password "$1" "$2"
    rabbitmqctl -q set_permissions -p / "$1" '.*' '.*' '.*'
}
add_user qmf qmf
add_user alice alice
add_user admin admin
rabbitmqctl -q set_user_tags admin administrator
rabbitmqctl -q set_policy --apply-to queues tmp-expiry '^(amq\.gen-|rpl_|reply_|qmf\.sub\.)' '{"expires":60000}' >/dev/null
# An agent's request queue outlives the agent (it is declared, not
# exclusive); one unused for 10 minutes goes, so departed agents (test runs
# included) do not pile up queues. A restarted agent declares it again.
rabbitmqctl -q set_policy --apply-to queues agent-expiry '^qmf\.default\.direct\.' '{"expires":600000}' >/dev/null
echo "rabbitmq up on 127.0.0.1:5672 (users qmf, alice, admin)"
