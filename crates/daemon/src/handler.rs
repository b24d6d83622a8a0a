//! What the daemon does with each control-socket request.

use ironpost_core::BoxFuture;
use ironpost_ebpf_engine::BlockRequest;

use crate::shared::Shared;
use ironpost_proto::server as control;
use ironpost_proto::{Request, Response};

impl control::Handler for Shared {
    fn handle(&self, req: Request) -> BoxFuture<'_, Response> {
        Box::pin(async move {
            match req {
                Request::Status => Response::Status(self.status()),
                Request::Reload => self.reload(),
                Request::BlockAdd {
                    cidr,
                    ttl_secs,
                    reason,
                } => {
                    let Some(ebpf) = &self.ebpf else {
                        return ebpf_disabled();
                    };
                    let req = BlockRequest {
                        cidr,
                        ttl: ttl_secs.map(std::time::Duration::from_secs),
                        reason: if reason.is_empty() {
                            "manual".into()
                        } else {
                            reason
                        },
                        alert_id: None,
                        trace_id: None,
                        escalate: false,
                        // An operator's decision: never evicted, never downgraded.
                        evidence: ironpost_core::Evidence::Verified,
                    };
                    match ebpf.block(req).await {
                        Ok(block) => Response::Blocked {
                            block: block.into(),
                        },
                        Err(e) => Response::Error {
                            message: format!("{:#}", anyhow::Error::new(e)),
                        },
                    }
                }
                Request::BlockRemove { cidr } => {
                    let Some(ebpf) = &self.ebpf else {
                        return ebpf_disabled();
                    };
                    match ebpf.unblock(cidr).await {
                        Ok(block) => {
                            if let (Some(fleet), Some(_)) = (&self.fleet, &block) {
                                fleet.unblocked(cidr);
                            }
                            Response::Unblocked {
                                block: block.map(Into::into),
                            }
                        }
                        Err(e) => Response::Error {
                            message: format!("{:#}", anyhow::Error::new(e)),
                        },
                    }
                }
                Request::BlockList => {
                    let Some(ebpf) = &self.ebpf else {
                        return ebpf_disabled();
                    };
                    match ebpf.list() {
                        Ok(blocks) => Response::Blocks {
                            blocks: blocks.into_iter().map(Into::into).collect(),
                        },
                        Err(e) => Response::Error {
                            message: format!("{:#}", anyhow::Error::new(e)),
                        },
                    }
                }
                Request::Stats => {
                    let Some(ebpf) = &self.ebpf else {
                        return ebpf_disabled();
                    };
                    match ebpf.stats() {
                        Ok(stats) => Response::Stats {
                            stats: stats.into(),
                        },
                        Err(e) => Response::Error {
                            message: format!("{:#}", anyhow::Error::new(e)),
                        },
                    }
                }
                Request::IsolateList => {
                    let Some(guard) = &self.guard else {
                        return guard_disabled();
                    };
                    Response::Isolations {
                        isolations: guard
                            .isolations()
                            .await
                            .into_iter()
                            .map(Into::into)
                            .collect(),
                    }
                }
                Request::Isolate { container, action } => {
                    let Some(guard) = &self.guard else {
                        return guard_disabled();
                    };
                    match guard.isolate(&container, action.into()).await {
                        Ok(actions) => Response::Actions { actions },
                        Err(e) => Response::Error {
                            message: format!("{:#}", anyhow::Error::new(e)),
                        },
                    }
                }
                Request::Restore { container } => {
                    let Some(guard) = &self.guard else {
                        return guard_disabled();
                    };
                    match guard.restore(&container).await {
                        Ok(actions) => Response::Actions { actions },
                        Err(e) => Response::Error {
                            message: format!("{:#}", anyhow::Error::new(e)),
                        },
                    }
                }
                Request::SubmitAlert { alert } => {
                    if alert.rule_id.trim().is_empty() || alert.title.trim().is_empty() {
                        return Response::Error {
                            message: "alert needs a non-empty rule_id and title".into(),
                        };
                    }
                    let id = alert.id;
                    match self.bus.alerts().send(*alert).await {
                        Ok(()) => Response::Accepted { id },
                        Err(_) => Response::Error {
                            message: "daemon is shutting down".into(),
                        },
                    }
                }
            }
        })
    }
}

fn ebpf_disabled() -> Response {
    Response::Error {
        message: "the ebpf module is not enabled ([ebpf] enabled = false)".into(),
    }
}

fn guard_disabled() -> Response {
    Response::Error {
        message: "the container guard is not enabled ([container] enabled = false)".into(),
    }
}
