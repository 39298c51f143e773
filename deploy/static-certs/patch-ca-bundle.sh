#!/bin/sh
# patch-ca-bundle.sh CA_FILE - puts the CA that signed streamguard's certificate into both
# webhook configurations, so kube-apiserver trusts the webhook. Run it after each
# `kubectl apply -k deploy/static-certs` (apply resets the caBundle) and after a new CA.
set -eu
ca=$(base64 -w0 "${1:?usage: patch-ca-bundle.sh CA_FILE}")
for kind in validatingwebhookconfiguration mutatingwebhookconfiguration; do
    kubectl patch "$kind" streamguard --type=json \
        -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$ca\"}]"
done
