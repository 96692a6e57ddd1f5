"""CloudTrail records of AssumeRoleWithWebIdentity written by AWS, not by us: each with its source and why it reads
the way it does. Only the shape and the values shown are theirs; account ids and placeholders are theirs too."""

from __future__ import annotations

# IAM user guide, "Logging IAM and AWS STS API calls with AWS CloudTrail", "Example web identity AWS STS API event in
# CloudTrail log file" (2024 edition). A success through an IAM OIDC provider: the provider appears as its ARN in
# userIdentity.identityProvider and responseElements.provider; principalId is `<provider ARN>:<aud>:<sub>`. The
# record carries the issued credentials' accessKeyId and sessionToken, which must never be kept.
IAM_GUIDE_2024_SUCCESS = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "WebIdentityUser",
        "principalId": "arn:aws:iam::444455556666:oidc-provider/<issuer url of OIDC provider>:<id of application>:<id of user>",
        "userName": "<id of user>",
        "identityProvider": "arn:aws:iam::444455556666:oidc-provider/<issuer url of OIDC provider>",
    },
    "eventTime": "2024-07-09T15:41:37Z",
    "eventSource": "sts.amazonaws.com",
    "eventName": "AssumeRoleWithWebIdentity",
    "awsRegion": "us-east-2",
    "sourceIPAddress": "192.0.2.101",
    "userAgent": "aws-cli/2.13.29 Python/3.11.6 Windows/10 exe/AMD64 prompt/off command/sts.assume-role-with-web-identity",
    "requestParameters": {
        "roleArn": "arn:aws:iam::444455556666:role/FederatedWebIdentityRole",
        "roleSessionName": "<assigned role session name>",
        "sourceIdentity": "MyWebIdentityUser",
        "durationSeconds": 3600,
        "principalTags": {"CostCenter": "24680", "Project": "Pegasus"},
        "transitiveTagKeys": ["CostCenter", "Project"],
    },
    "responseElements": {
        "credentials": {"accessKeyId": "ASIAIOSFODNN7EXAMPLE", "sessionToken": "<encoded session token blob>",
                        "expiration": "Jul 9, 2024, 4:41:37 PM"},
        "subjectFromWebIdentityToken": "<id of user>",
        "sourceIdentity": "MyWebIdentityUser",
        "assumedRoleUser": {"assumedRoleId": "AROA123456789EXAMPLE:<assigned role session name>",
                            "arn": "arn:aws:sts::444455556666:assumed-role/FederatedWebIdentityRole/<assigned role session name>"},
        "provider": "arn:aws:iam::444455556666:oidc-provider/<issuer url of OIDC provider>",
        "audience": "<id of application>",
    },
    "additionalEventData": {"identityProviderConnectionVerificationMethod": "IAMTrustStore"},
    "requestID": "aEXAMPLE-0b26-40df-8973-c7012EXAMPLE",
    "eventID": "aEXAMPLE-ee29-4ac0-a0ed-3f5c5EXAMPLE",
    "readOnly": True,
    "resources": [{"accountId": "444455556666", "type": "AWS::IAM::Role",
                   "ARN": "arn:aws:iam::444455556666:role/FederatedWebIdentityRole"}],
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "444455556666",
    "eventCategory": "Management",
    "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                   "clientProvidedHostHeader": "sts.us-east-2.amazonaws.com"},
}

# A real refusal, quoted in the troubleshooting notes of an Argo Workflows executor plugin for SageMaker
# (a public repository's docs, 2023-11): an EKS service account (IRSA) refused by its role's trust policy. The API
# answered "Not authorized to perform sts:AssumeRoleWithWebIdentity"; CloudTrail recorded errorMessage "An unknown
# error occurred" and responseElements null. principalId keeps `<provider ARN>:<aud>:<sub>` with a sub full of colons.
EKS_IRSA_ACCESS_DENIED = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "WebIdentityUser",
        "principalId": "arn:aws:iam::100000000002:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/A8242F25BFBB8F98F5321B2AE63C8B5C:sts.amazonaws.com:system:serviceaccount:argo:awf-aws-executor-plugin",
        "userName": "system:serviceaccount:argo:awf-aws-executor-plugin",
        "identityProvider": "arn:aws:iam::100000000002:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/A8242F25BFBB8F98F5321B2AE63C8B5C",
    },
    "eventTime": "2023-11-08T15:09:08Z",
    "eventSource": "sts.amazonaws.com",
    "eventName": "AssumeRoleWithWebIdentity",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "44.238.229.20",
    "userAgent": "aws-sdk-go/1.45.1 (go1.21.4; linux; amd64)",
    "errorCode": "AccessDenied",
    "errorMessage": "An unknown error occurred",
    "requestParameters": {
        "roleArn": "arn:aws:iam::100000000002:role/sm-pipelines-k8s-awf-aws-executor-plugin",
        "roleSessionName": "1699456147945229070",
    },
    "responseElements": None,
    "requestID": "a3ead691-6855-45ed-aa48-b3714ddcff1f",
    "eventID": "899f0a00-4e04-4fab-bb35-0297ed266f62",
    "readOnly": True,
    "resources": [{"accountId": "100000000002", "type": "AWS::IAM::Role",
                   "ARN": "arn:aws:iam::100000000002:role/sm-pipelines-k8s-awf-aws-executor-plugin"}],
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "100000000002",
    "eventCategory": "Management",
    "tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                   "clientProvidedHostHeader": "sts.us-west-2.amazonaws.com"},
}
# The same notes give the trust policy the role should have had: it pins aud and sub of that service account.
EKS_IRSA_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::100000000002:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/A8242F25BFBB8F98F5321B2AE63C8B5C"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            "oidc.eks.us-west-2.amazonaws.com/id/A8242F25BFBB8F98F5321B2AE63C8B5C:aud": "sts.amazonaws.com",
            "oidc.eks.us-west-2.amazonaws.com/id/A8242F25BFBB8F98F5321B2AE63C8B5C:sub": "system:serviceaccount:argo:awf-aws-executor-plugin",
        }},
    }],
}

# IAM user guide (2016 edition of the same page): a built-in provider (Google), named by host, not by ARN.
IAM_GUIDE_2016_GOOGLE = {
    "eventVersion": "1.05",
    "userIdentity": {
        "type": "WebIdentityUser",
        "principalId": "accounts.google.com:<id-of-application>.apps.googleusercontent.com:<id-of-user>",
        "userName": "<id of user>",
        "identityProvider": "accounts.google.com",
    },
    "eventTime": "2016-03-23T01:39:51Z",
    "eventSource": "sts.amazonaws.com",
    "eventName": "AssumeRoleWithWebIdentity",
    "awsRegion": "us-east-2",
    "sourceIPAddress": "192.0.2.101",
    "userAgent": "aws-cli/1.3.23 Python/2.7.6 Linux/2.6.18-164.el5",
    "requestParameters": {"durationSeconds": 3600, "roleArn": "arn:aws:iam::444455556666:role/FederatedWebIdentityRole",
                          "roleSessionName": "MyAssignedRoleSessionName"},
    "responseElements": {
        "provider": "accounts.google.com",
        "subjectFromWebIdentityToken": "<id of user>",
        "audience": "<id of application>.apps.googleusercontent.com",
        "credentials": {"accessKeyId": "ASIACQRSTUVWRAOEXAMPLE", "expiration": "Mar 23, 2016 2:39:51 AM",
                        "sessionToken": "<encoded session token blob>"},
        "assumedRoleUser": {"assumedRoleId": "AROACQRSTUVWRAOEXAMPLE:MyAssignedRoleSessionName",
                            "arn": "arn:aws:sts::444455556666:assumed-role/FederatedWebIdentityRole/MyAssignedRoleSessionName"},
    },
    "eventID": "bEXAMPLE-0b30-4246-b28c-e3da3EXAMPLE",
    "eventType": "AwsApiCall",
    "recipientAccountId": "444455556666",
}
