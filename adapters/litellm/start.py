"""Starts the LiteLLM proxy for one keypool conform run.

Reads the configuration keypool writes (upstream, keys, options), writes a LiteLLM proxy config
with one deployment per key, all in one model group per provider of the chain (later providers
as LiteLLM fallbacks), and replaces itself with `litellm --config ...`. The Router keeps its
defaults (num_retries 2, simple-shuffle routing, cooldowns) unless an option says otherwise:

  num_retries=N   router_settings.num_retries
  order           deployments get `order` 1, 2, ... by key priority (deterministic sequence)
  cooldown_time=S router_settings.cooldown_time
"""
import json
import os
import sys

def main():
    cfg = json.load(open(sys.argv[1]))
    opts = cfg.get("options", {})
    work = cfg["workdir"]
    model_list = []
    groups = []
    for i, p in enumerate(cfg["providers"]):
        group = "keypool" if i == 0 else "keypool-fallback-%d" % i
        groups.append(group)
        keys = sorted(p["keys"], key=lambda k: k["priority"])
        for n, k in enumerate(keys):
            params = {
                "model": "openai/" + cfg["model"],
                "api_key": k["secret"],
                "api_base": cfg["upstream_v1"],
            }
            if "order" in opts:
                params["order"] = n + 1
            model_list.append({"model_name": group, "litellm_params": params,
                               "model_info": {"id": k["label"]}})
    router = {}
    if "num_retries" in opts:
        router["num_retries"] = int(opts["num_retries"])
    if "cooldown_time" in opts:
        router["cooldown_time"] = float(opts["cooldown_time"])
    conf = {"model_list": model_list}
    if len(groups) > 1:
        router["fallbacks"] = [{groups[0]: groups[1:]}]
    if router:
        conf["router_settings"] = router
    path = os.path.join(work, "litellm.yaml")
    # JSON is YAML: no YAML library needed here.
    with open(path, "w") as f:
        json.dump(conf, f, indent=2)
    env = dict(os.environ)
    env["LITELLM_MASTER_KEY"] = cfg["master_key"]
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.pop("DATABASE_URL", None)
    exe = os.path.join(os.path.dirname(sys.executable), "litellm")
    os.execve(exe, [exe, "--config", path, "--host", "127.0.0.1", "--port", str(cfg["port"])], env)

main()
