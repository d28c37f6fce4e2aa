"""What moto spends, in CPU seconds, on N finding writes of each style the
scanner could use (issue 11). Run with an emulator at $AWS_ENDPOINT_URL:

    .venv/bin/python infra/bench/moto_write_cost.py 400
"""
import os, sys, time, boto3
ep = os.environ["AWS_ENDPOINT_URL"]
pid = int(open("/proc/net/tcp").read() and os.popen(f"pgrep -f 'moto_server.*{ep.rsplit(':',1)[1]}'").read().split()[0])
def cpu():
    f = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
d = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=ep, aws_access_key_id="x", aws_secret_access_key="x")
d.create_table(TableName="t", KeySchema=[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],
  AttributeDefinitions=[{"AttributeName":a,"AttributeType":"S"} for a in ("pk","sk","gsi1pk","gsi1sk","gsi2pk","gsi2sk")],
  GlobalSecondaryIndexes=[{"IndexName":g,"KeySchema":[{"AttributeName":g+"pk","KeyType":"HASH"},{"AttributeName":g+"sk","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}} for g in ("gsi1","gsi2")],
  BillingMode="PAY_PER_REQUEST")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 400
names = ["finding_id","check_id","title","severity","category","service","resource_arn","resource_type","resource_id","region","account_id","recommendation","monthly_savings_usd","state","last_seen","scan_id","gsi1pk","gsi1sk","gsi2pk","gsi2sk"]
def vals(i, scan):
    v = {n: {"S": f"{n}-{i}-value-long-enough-to-look-real"} for n in names}
    v["monthly_savings_usd"] = {"N": "123"}; v["state"] = {"S": "open"}; v["scan_id"] = {"S": scan}; v["gsi1pk"] = {"S": "LIST"}
    return v
def key(i): return {"pk": {"S": "FINDINGS#1#eu"}, "sk": {"S": f"check#{i:05}"}}
def full_update(i, scan):
    v = vals(i, scan)
    sets = ["#first_seen = if_not_exists(#first_seen, :now)"] + [f"#a{j} = :a{j}" for j in range(len(names))]
    d.update_item(TableName="t", Key=key(i), UpdateExpression="SET " + ", ".join(sets) + " REMOVE #resolved_at",
      ExpressionAttributeNames={"#first_seen":"first_seen","#resolved_at":"resolved_at", **{f"#a{j}": n for j, n in enumerate(names)}},
      ExpressionAttributeValues={":now":{"S":"t"}, **{f":a{j}": v[n] for j, n in enumerate(names)}}, ReturnValues="ALL_NEW")
def measure(label, f):
    c, t = cpu(), time.perf_counter()
    f()
    print(f"{label:45} {N} items: moto cpu {cpu()-c:6.2f} s  ({(cpu()-c)/N*1000:5.2f} ms/item), wall {time.perf_counter()-t:5.2f} s")
measure("full 21-clause UpdateItem", lambda: [full_update(i, "s1") for i in range(N)])
def touch(i):
    d.update_item(TableName="t", Key=key(i), UpdateExpression="SET #s = :s, #l = :l", ConditionExpression="#st = :open",
      ExpressionAttributeNames={"#s":"scan_id","#l":"last_seen","#st":"state"}, ExpressionAttributeValues={":s":{"S":"s2"},":l":{"S":"t2"},":open":{"S":"open"}})
measure("touch UpdateItem (2 SET, condition)", lambda: [touch(i) for i in range(N)])
def tx_touch():
    for c in range(0, N, 100):
        d.transact_write_items(TransactItems=[{"Update": {"TableName":"t","Key":key(i),"UpdateExpression":"SET #s = :s, #l = :l","ConditionExpression":"#st = :open",
          "ExpressionAttributeNames":{"#s":"scan_id","#l":"last_seen","#st":"state"},"ExpressionAttributeValues":{":s":{"S":"s3"},":l":{"S":"t3"},":open":{"S":"open"}}}} for i in range(c, min(N, c+100))])
measure("TransactWriteItems touch x100", tx_touch)
def query():
    p = d.get_paginator("query")
    n = sum(len(pg["Items"]) for pg in p.paginate(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p":{"S":"FINDINGS#1#eu"}}))
    assert n == N, n
measure("Query the partition", query)
def tx_put():
    for c in range(0, N, 100):
        d.transact_write_items(TransactItems=[{"Put": {"TableName":"t","Item":{**key(i+100000), **vals(i,"s4"), "first_seen":{"S":"t"}},"ConditionExpression":"attribute_not_exists(pk)"}} for i in range(c, min(N, c+100))])
measure("TransactWriteItems Put new x100", tx_put)
def batch_put():
    for c in range(0, N, 25):
        d.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {**key(i+200000), **vals(i,"s5")}}} for i in range(c, min(N, c+25))]})
measure("BatchWriteItem Put x25", batch_put)
def cond_put():
    for i in range(N):
        d.put_item(TableName="t", Item={**key(i+300000), **vals(i,"s4"), "first_seen":{"S":"t"}}, ConditionExpression="attribute_not_exists(pk)")
measure("PutItem new, condition", cond_put)
def query_projected():
    p = d.get_paginator("query")
    n = sum(len(pg["Items"]) for pg in p.paginate(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p":{"S":"FINDINGS#1#eu"}},
        ProjectionExpression="sk, #st, scan_id, last_seen", ExpressionAttributeNames={"#st": "state"}))
    print(f"  (the partition holds {n} items by now; per item below means per {N})")
measure("Query the partition, 4 attributes projected", query_projected)
def query_again():
    p = d.get_paginator("query")
    sum(len(pg["Items"]) for pg in p.paginate(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p":{"S":"FINDINGS#1#eu"}}))
measure("Query the same partition, every attribute", query_again)
def digests():
    d.put_item(TableName="t", Item={"pk": {"S": "SETTLED#1#eu"}, "sk": {"S": "SETTLED"},
        "digests": {"S": "\n".join(f"check#{i:05} 0123456789abcdef0123456789abcdef" for i in range(N))}})
    for _ in range(10):
        d.get_item(TableName="t", Key={"pk": {"S": "SETTLED#1#eu"}, "sk": {"S": "SETTLED"}}, ConsistentRead=True)
measure("one item of N digests: put, then 10 GetItems", digests)
