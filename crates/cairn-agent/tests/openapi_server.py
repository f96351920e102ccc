"""An inventory API for the agents' OpenAPI tools, on FastAPI (which writes its own
OpenAPI 3.1 document at /openapi.json), served by uvicorn.

    python openapi_server.py PORT API_KEY LOG

Every request must carry `X-Api-Key: API_KEY` (403 otherwise). `get_item` reads,
`create_order` appends its order to LOG (a side effect a test can count), and
`moved` answers with a redirect to the cloud metadata address.
"""
import json
import sys
from typing import Optional

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Security
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

port, api_key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
header = APIKeyHeader(name="X-Api-Key", auto_error=False)


def key(value: Optional[str] = Security(header)) -> None:
    if value != api_key:
        raise HTTPException(status_code=403, detail="bad API key")


app = FastAPI(title="Inventory", version="1.0", dependencies=[Depends(key)])
ITEMS = {7: {"id": 7, "name": "torque wrench", "stock": 12, "bin": "B-14"}}


class Order(BaseModel):
    item: int = Field(description="the item's id")
    quantity: int = Field(gt=0, le=100, description="how many")
    note: Optional[str] = None


@app.get("/items/{item_id}", operation_id="get_item", summary="One item of the inventory")
def get_item(item_id: int, verbose: bool = False):
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail=f"no item {item_id}")
    item = dict(ITEMS[item_id])
    if not verbose:
        item.pop("bin")
    return item


@app.post("/orders", operation_id="create_order", summary="Orders more of an item")
def create_order(order: Order):
    with open(log, "a") as f:
        f.write(json.dumps(order.model_dump()) + "\n")
    return {"order": 1, "status": "placed", **order.model_dump()}


@app.get("/moved", operation_id="moved", summary="An old address")
def moved():
    return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=307)


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
