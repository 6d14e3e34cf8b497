"""The packaged, transformed template brought up on moto: resources created, intrinsics resolved.

``Stack`` does what CloudFormation would for the resources the rehearsal can emulate: it creates each data
resource (stream, queues, buckets, tables, secrets) in moto under a deterministic name, and resolves ``Ref``,
``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Select`` and ``Fn::Split`` (``Fn::If`` and conditions by
``tests.support.sam_transform.Resolver``) against what it created. Nothing is filled in or rewritten: a
reference to something the stack does not create is an error (``Unresolvable``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from tests.support.sam_transform import ACCOUNT, REGION, Resolver


class Unresolvable(Exception):
    """A reference to a resource, attribute or parameter the stack does not have."""


def arn(service: str, resource: str, *, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


class Stack:
    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str], clients: Any) -> None:
        self.resolver = Resolver(template, parameters)
        self.resources = self.resolver.live_resources()
        self.parameters = {**self.resolver.values}
        self.clients = clients
        self.physical: dict[str, str] = {}
        self.attributes: dict[str, dict[str, str]] = {}
        self.api_key = ""

    # ---- creation ----------------------------------------------------------------------------------
    def create(self) -> None:
        for name, resource in self.resources.items():
            kind, properties = resource["Type"], resource.get("Properties", {})
            physical = f"pue-{name}"
            if kind == "AWS::Kinesis::Stream":
                self._stream(name, physical, properties)
            elif kind == "AWS::SQS::Queue":
                url = self.clients("sqs").create_queue(QueueName=physical)["QueueUrl"]
                self._set(name, url, Arn=arn("sqs", physical), QueueName=physical)
            elif kind == "AWS::S3::Bucket":
                bucket = (
                    self.value(properties["BucketName"]) if "BucketName" in properties else physical.lower()
                )
                self.clients("s3").create_bucket(Bucket=bucket)
                self._set(name, bucket, Arn=f"arn:aws:s3:::{bucket}")
            elif kind == "AWS::DynamoDB::Table":
                self._table(name, physical, properties)
            elif kind == "AWS::SecretsManager::Secret":
                self.api_key = secrets.token_hex(20)  # GenerateSecretString, as CloudFormation would
                made = self.clients("secretsmanager").create_secret(Name=physical, SecretString=self.api_key)
                self._set(name, made["ARN"])
            else:
                self._named(name, kind, physical, properties)

    def _set(self, name: str, ref: str, **attributes: str) -> None:
        self.physical[name] = ref
        self.attributes[name] = attributes

    def _stream(self, name: str, physical: str, properties: Mapping[str, Any]) -> None:
        kinesis = self.clients("kinesis")
        kinesis.create_stream(StreamName=physical, ShardCount=int(self.value(properties["ShardCount"])))
        kinesis.get_waiter("stream_exists").wait(StreamName=physical, WaiterConfig={"Delay": 0.1})
        self._set(name, physical, Arn=arn("kinesis", f"stream/{physical}"))

    def _table(self, name: str, physical: str, properties: Mapping[str, Any]) -> None:
        options: dict[str, Any] = {
            "TableName": physical,
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties["BillingMode"],
        }
        if "GlobalSecondaryIndexes" in properties:
            options["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        self.clients("dynamodb").create_table(**options)
        self._set(name, physical, Arn=arn("dynamodb", f"table/{physical}"))

    def _named(self, name: str, kind: str, physical: str, properties: Mapping[str, Any]) -> None:
        """Resources the rehearsal does not create in moto but others name (roles, functions, log groups)."""
        if kind == "AWS::IAM::Role":
            self._set(name, physical, Arn=f"arn:aws:iam::{ACCOUNT}:role/{physical}")
        elif kind == "AWS::IAM::ManagedPolicy":
            self._set(name, f"arn:aws:iam::{ACCOUNT}:policy/{physical}")
        elif kind == "AWS::Lambda::Function":
            self._set(name, physical, Arn=arn("lambda", f"function:{physical}"))
        elif kind == "AWS::Logs::LogGroup":
            group = self.value(properties["LogGroupName"])
            self._set(name, group, Arn=arn("logs", f"log-group:{group}:*"))
        elif kind == "AWS::Events::Rule":
            self._set(name, physical, Arn=arn("events", f"rule/{physical}"))
        elif kind == "AWS::SNS::Topic":
            self._set(name, arn("sns", physical), TopicName=physical)
        else:
            self._set(name, physical)

    # ---- intrinsics --------------------------------------------------------------------------------
    def value(self, node: Any) -> Any:
        """``node`` with every intrinsic function resolved against the created stack."""
        node = self.resolver.resolve(node)
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (function, argument), *_ = node.items()
            if function == "Ref":
                return self._ref(argument)
            if function == "Fn::GetAtt":
                logical, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self._attribute(logical, attribute)
            if function == "Fn::Sub":
                return self._sub(argument)
            if function == "Fn::Join":
                separator, items = argument
                return separator.join(str(v) for v in self.value(items))
            if function == "Fn::Select":
                index, items = argument
                return self.value(items)[int(self.value(index))]
            if function == "Fn::Split":
                separator, text = argument
                return str(self.value(text)).split(separator)
        return {k: self.value(v) for k, v in node.items()}

    def _ref(self, name: str) -> Any:
        if name in self.physical:
            return self.physical[name]
        if name in self.parameters:
            return self.parameters[name]
        raise Unresolvable(f"Ref {name}: not a resource the stack created nor a parameter")

    def _attribute(self, logical: str, attribute: str) -> str:
        if attribute not in self.attributes.get(logical, {}):
            raise Unresolvable(f"Fn::GetAtt {logical}.{attribute}: the stack has no such resource attribute")
        return str(self.attributes[logical][attribute])

    def _sub(self, argument: Any) -> str:
        text, local = (argument, {}) if isinstance(argument, str) else argument
        values = {k: self.value(v) for k, v in local.items()}
        out, start = "", 0
        while (begin := text.find("${", start)) != -1:
            end = text.index("}", begin)
            name = text[begin + 2 : end]
            out += text[start:begin]
            if name in values:
                out += str(values[name])
            elif "." in name:
                out += self._attribute(*name.split(".", 1))
            else:
                out += str(self._ref(name))
            start = end + 1
        return str(out + text[start:])
