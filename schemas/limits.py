"""Service limits, named, each with its source. botocore enforces few of them: pue checks before sending.

A value that breaks one of these is rejected (dead-lettered with the reason), never silently truncated.
"""

from typing import Final

# Amazon Personalize PutEvents
# https://docs.aws.amazon.com/personalize/latest/dg/API_UBS_PutEvents.html
# https://docs.aws.amazon.com/personalize/latest/dg/API_UBS_Event.html
PUT_EVENTS_MAX_EVENTS: Final = 10  # eventList: 1..10 items
PERSONALIZE_ID_MAX_LENGTH: Final = 256  # userId, sessionId, itemId, eventId: length 1..256
PERSONALIZE_EVENT_TYPE_MAX_LENGTH: Final = 256  # eventType: length 1..256
EVENT_PROPERTIES_MAX_LENGTH: Final = 1024  # properties: JSON string, length 1..1024
RECOMMENDATION_ID_MAX_LENGTH: Final = 40  # recommendationId: length 1..40
IMPRESSION_MAX_ITEMS: Final = 25  # impression: 1..25 item ids

# Amazon Personalize GetRecommendations
# https://docs.aws.amazon.com/personalize/latest/dg/API_RS_GetRecommendations.html
GET_RECOMMENDATIONS_MAX_RESULTS: Final = 500  # numResults: 1..500
GET_RECOMMENDATIONS_DEFAULT_RESULTS: Final = 25  # service default when numResults is omitted
FILTER_VALUES_MAX_ENTRIES: Final = 25  # filterValues: at most 25 entries
FILTER_VALUES_KEY_MAX_LENGTH: Final = 50  # filterValues key (placeholder name): length 1..50, [A-Za-z0-9_]+
FILTER_VALUES_VALUE_MAX_LENGTH: Final = 1000  # filterValues value: length 1..1000

# Amazon Pinpoint
# https://docs.aws.amazon.com/pinpoint/latest/developerguide/quotas.html#quotas-endpoint
PINPOINT_ENDPOINTS_PER_BATCH: Final = 100  # UpdateEndpointsBatch: at most 100 endpoints per request
PINPOINT_ATTRIBUTE_VALUE_MAX_LENGTH: Final = 100  # each attribute value: at most 100 characters
PINPOINT_ATTRIBUTE_MAX_VALUES: Final = 50  # values per attribute: at most 50

# Segment tracking API
# https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#max-request-size
SEGMENT_MESSAGE_MAX_BYTES: Final = 32 * 1024  # one message: 32 KB
SEGMENT_BATCH_MAX_BYTES: Final = 500 * 1024  # one /v1/batch request: 500 KB
SEGMENT_BATCH_MAX_MESSAGES: Final = 100  # analytics-python upload_size default; keeps requests small
# Segment Profile API: https://segment.com/docs/unify/profile-api-limits/
SEGMENT_PROFILE_API_REQUESTS_PER_SECOND: Final = 100  # per space

# AWS Lambda with a Kinesis event source
# https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
LAMBDA_KINESIS_MAX_BATCH_RECORDS: Final = 10_000
LAMBDA_PAYLOAD_MAX_BYTES: Final = 6 * 1024 * 1024  # synchronous invocation payload: 6 MB

# Amazon SQS SendMessageBatch
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
SQS_BATCH_MAX_ENTRIES: Final = 10
SQS_MESSAGE_MAX_BYTES: Final = 256 * 1024  # per message and per batch: 256 KiB

# Amazon Kinesis Data Streams PutRecord(s): a record's data blob is at most 1 MiB
# https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
KINESIS_RECORD_MAX_BYTES: Final = 1024 * 1024

# pue redrive reads at most what pue itself writes (issue 23: a message must not decide how much is read).
# A dead letter holds one Kinesis record (a KPL sub-record is smaller): its bytes, plain, gunzipped or in S3,
# are never more than KINESIS_RECORD_MAX_BYTES. A message body: pue's dead-letter sink keeps each under SQS's
# limit, and Lambda's on-failure records are a few KB.
DEAD_LETTER_RECORD_MAX_BYTES: Final = KINESIS_RECORD_MAX_BYTES
REDRIVE_MESSAGE_MAX_BYTES: Final = SQS_MESSAGE_MAX_BYTES

# Amazon Kinesis Data Streams GetRecords (pue consume)
# https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html
KINESIS_GET_RECORDS_MAX_RECORDS: Final = 10_000  # Limit: 1..10,000 records per call
KINESIS_GET_RECORDS_PER_SHARD_PER_SECOND: Final = 5  # calls per second per shard
# GetShardIterator StartingSequenceNumber: pattern 0|([1-9]\d{0,128})
# https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html
KINESIS_SEQUENCE_NUMBER_MAX_DIGITS: Final = 129

# Amazon Personalize datasets (bulk import: pue export, pue validate)
# https://docs.aws.amazon.com/personalize/latest/dg/limits.html#limits-table
# https://docs.aws.amazon.com/personalize/latest/dg/interactions-dataset-requirements.html
# https://docs.aws.amazon.com/personalize/latest/dg/how-it-works-dataset-schema.html
PERSONALIZE_MIN_INTERACTIONS: Final = 1_000  # unique interactions needed to train a solution version
PERSONALIZE_MIN_ACTIVE_USERS: Final = 25  # unique users with at least 2 interactions each, to train
PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS: Final = 2  # what makes a user count toward the 25
PERSONALIZE_CATEGORICAL_VALUE_MAX_LENGTH: Final = 1_000  # a longer categorical value fails the import job
PERSONALIZE_INTERACTIONS_MAX_METADATA_FIELDS: Final = 5  # custom interaction metadata fields (not reserved)
PERSONALIZE_ITEMS_MAX_METADATA_FIELDS: Final = 50  # metadata fields in an Items schema (limits)
PERSONALIZE_USERS_MAX_METADATA_FIELDS: Final = 25  # metadata fields in a Users schema (user-dataset-reqs)
# Bulk data per dataset import job (limits table): 100 GB in FULL mode (interactions: 1 TB once the
# considered-interactions quota is raised), 1 GB in INCREMENTAL mode. The Spark export keeps every part
# file within the INCREMENTAL job's size, so any one part can be imported alone; a whole folder is a
# FULL import of at most PERSONALIZE_FULL_IMPORT_MAX_BYTES.
PERSONALIZE_FULL_IMPORT_MAX_BYTES: Final = 100 * 1000**3
PERSONALIZE_INCREMENTAL_IMPORT_MAX_BYTES: Final = 1000**3
EXPORT_PART_MAX_BYTES: Final = PERSONALIZE_INCREMENTAL_IMPORT_MAX_BYTES

# Amazon Pinpoint engagement paths (campaign hook, segment import, direct messages)
# https://docs.aws.amazon.com/pinpoint/latest/developerguide/quotas.html#quotas-Lambda
PINPOINT_CAMPAIGN_HOOK_MAX_ENDPOINTS: Final = 50  # endpoints per FILTER-mode Lambda invocation
PINPOINT_CAMPAIGN_HOOK_TIMEOUT_SECONDS: Final = 15  # the hook must answer within this
# https://docs.aws.amazon.com/pinpoint/latest/developerguide/quotas.html#quotas-endpoint
PINPOINT_ATTRIBUTE_NAME_MAX_LENGTH: Final = 50  # characters per custom attribute name
# https://docs.aws.amazon.com/pinpoint/latest/apireference/apps-application-id-users-messages.html
PINPOINT_SEND_USERS_MAX_USERS: Final = 100  # SendUsersMessages: users per request
# https://docs.aws.amazon.com/pinpoint/latest/developerguide/audience-define-import.html
PINPOINT_IMPORT_JOB_MAX_BYTES: Final = 1024 * 1024 * 1024  # one import job transfers at most 1 GB

# Amazon Connect Customer Profiles
# https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_UpdateProfile.html
CUSTOMER_PROFILES_ATTRIBUTE_VALUE_MAX_LENGTH: Final = 255  # Attributes: each value 0..255 characters
# https://docs.aws.amazon.com/customerprofiles/latest/APIReference/API_SearchProfiles.html
CUSTOMER_PROFILES_KEY_NAME_MAX_LENGTH: Final = 64  # KeyName: 1..64, ^[a-zA-Z0-9_-]+$
CUSTOMER_PROFILES_SEARCH_MAX_RESULTS: Final = 100  # MaxResults: 1..100

# Amazon DynamoDB BatchGetItem (the item catalog)
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
DYNAMODB_BATCH_GET_MAX_KEYS: Final = 100  # keys per request
# Amazon DynamoDB BatchWriteItem (the refresh ledger)
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
DYNAMODB_BATCH_WRITE_MAX_ITEMS: Final = 25  # put or delete requests per call

# pue's own bounds on what one message may cost (issue 23)
# One event's products become one interaction each, sent 10 per PutEvents call (PUT_EVENTS_MAX_EVENTS):
# 100 products are 10 calls and 100 rows. A 32 KB Segment message (SEGMENT_MESSAGE_MAX_BYTES) has room for
# about 1,300 minimal products: 135 calls and 2.3 s of local CPU measured for one POST. Real orders carry
# far fewer (the e-commerce spec's examples carry 1-3). A message with more is dead-lettered, raw bytes
# kept, so it can be redriven once this is raised.
MAX_PRODUCTS_PER_EVENT: Final = 100
