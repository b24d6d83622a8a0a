//! [`LogPipeline`] as a daemon [`Module`]: `start` loads the rules, starts the sources (the file
//! source from its checkpoints, journald from its cursor), connects the alert state (Redis, else
//! memory) and starts the worker; `stop` stops the sources first, lets the worker drain what they
//! queued and saves the checkpoints and the cursor; `health` adds the journald source's state.

use super::*;

impl Module for LogPipeline {
    fn name(&self) -> &'static str {
        "log_pipeline"
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let cfg = self.shared.cfg.clone();
            let mut problems = Vec::new();
            match self.shared.load_rules() {
                Ok(set) => {
                    self.shared
                        .metrics
                        .rules
                        .set(i64::try_from(set.len()).unwrap_or(i64::MAX));
                    info!(rules = set.len(), dir = %cfg.rules_dir.display(), "log rules loaded");
                    *self.shared.rules.write().unwrap_or_else(|p| p.into_inner()) = set;
                }
                Err(e) => {
                    warn!(error = %error_chain(&e), "no log rules loaded");
                    problems.push(e);
                }
            }
            let (line_tx, line_rx) = mpsc::channel(BATCH_CHANNEL_CAPACITY);
            let (file_tx, file_rx) = mpsc::channel(BATCH_CHANNEL_CAPACITY);
            let m = &self.source_metrics;
            if cfg.sources.iter().any(|s| s.udp()) {
                let rcvbuf = (cfg.syslog_udp_rcvbuf > 0).then_some(cfg.syslog_udp_rcvbuf);
                match SyslogUdp::bind(cfg.syslog_bind, rcvbuf) {
                    Ok(s) => {
                        info!(addr = %s.local_addr(), "syslog_udp listening");
                        self.sources.push(tokio::spawn(s.run(
                            line_tx.clone(),
                            m.clone(),
                            self.stop_sources.subscribe(),
                        )));
                    }
                    Err(source) => problems.push(PipelineError::UdpBind {
                        addr: cfg.syslog_bind,
                        source,
                    }),
                }
            }
            // With TLS configured but unloadable, the TCP listener stays down: no plaintext fallback.
            let tls = match (&cfg.syslog_tls_cert, &cfg.syslog_tls_key) {
                (Some(cert), Some(key)) => match load_tls(cert, key) {
                    Ok(c) => Ok(Some(c)),
                    Err(e) => Err(e),
                },
                _ => Ok(None),
            };
            if cfg.sources.iter().any(|s| s.tcp()) {
                let bound = match tls {
                    Ok(tls) => SyslogTcp::bind_tls(
                        cfg.syslog_bind,
                        cfg.syslog_tcp_max_connections,
                        cfg.syslog_tcp_idle_timeout,
                        tls,
                    )
                    .await
                    .map(|tcp| {
                        tcp.with_limits(
                            cfg.syslog_tcp_max_connections_per_peer,
                            cfg.syslog_tcp_header_timeout,
                            Some(self.shared.metrics.syslog_tcp.clone()),
                        )
                    })
                    .map_err(|source| PipelineError::TcpBind {
                        addr: cfg.syslog_bind,
                        source,
                    }),
                    Err(e) => Err(e),
                };
                match bound {
                    Ok(s) => {
                        if let Ok(a) = s.local_addr() {
                            let tls = cfg.syslog_tls_cert.is_some();
                            info!(addr = %a, tls, "syslog_tcp listening");
                        }
                        self.sources.push(tokio::spawn(s.run(
                            line_tx.clone(),
                            m.clone(),
                            self.stop_sources.subscribe(),
                        )));
                    }
                    Err(e) => problems.push(e),
                }
            }
            let mut checkpoints = None;
            if cfg.sources.contains(&crate::config::SourceKind::File) {
                let (c, load) =
                    Checkpoints::load(self.data_dir.join("log_pipeline/checkpoints.json"));
                let mut start_at = cfg.file_start_at;
                if let CheckpointLoad::Corrupt(why) = load {
                    // The safe point: every file from its start (deterministic ids: stored once).
                    self.source_metrics.checkpoint_corrupt.inc();
                    warn!(path = %why.path.display(), moved_to = %why.moved_to.display(), reason = %why.reason,
                        "file checkpoints damaged; every file is read again from its start");
                    start_at = crate::source::file::StartAt::Beginning;
                    problems.push(PipelineError::Checkpoint(why));
                }
                let src =
                    FileSource::new(cfg.watch_paths.clone(), start_at, cfg.file_poll, c.clone());
                self.sources.push(tokio::spawn(src.run(
                    file_tx.clone(),
                    m.clone(),
                    self.stop_sources.subscribe(),
                )));
                checkpoints = Some(c);
            }
            let (journal_tx, journal_rx) = mpsc::channel(BATCH_CHANNEL_CAPACITY);
            if cfg.sources.contains(&crate::config::SourceKind::Journald) {
                let (cursor, load) =
                    CursorFile::load(self.data_dir.join("log_pipeline/journald.cursor"));
                let invalid = matches!(load, CursorLoad::Invalid(_));
                if let CursorLoad::Invalid(why) = load {
                    self.journald_metrics.cursor_invalid.inc();
                    warn!(reason = %error_chain(&why), "journald cursor unreadable; starting from the end of the journal");
                    problems.push(why);
                }
                let src = JournaldSource::new(
                    cfg.journald.clone(),
                    // A damaged cursor starts from the end whatever `file_start_at` says.
                    if invalid {
                        crate::source::file::StartAt::End
                    } else {
                        cfg.file_start_at
                    },
                    cursor.clone(),
                    self.shared.journald_status.clone(),
                    self.journald_metrics.clone(),
                );
                self.sources.push(tokio::spawn(src.run(
                    journal_tx.clone(),
                    m.clone(),
                    self.stop_sources.subscribe(),
                )));
                self.journal_cursor = Some(cursor);
            }
            drop((line_tx, file_tx, journal_tx));
            let alerter = match cfg.redis_options() {
                Some(opts) => {
                    match RedisAlertState::connect(&opts, RedisAlertState::DEFAULT_PREFIX).await {
                        Ok(state) => {
                            let state = state.with_metrics(self.shared.metrics.alert_state.clone());
                            info!("alert state shared through Redis");
                            AnyAlerter::Redis(Alerter::new(
                                cfg.alerting.clone(),
                                state,
                                Arc::new(SystemClock),
                            ))
                        }
                        Err(e) => {
                            let e = PipelineError::AlertStateInMemory {
                                source: Box::new(e),
                            };
                            warn!(error = %error_chain(&e), "Redis unusable");
                            problems.push(e);
                            AnyAlerter::Memory(Alerter::in_memory(
                                cfg.alerting.clone(),
                                Arc::new(SystemClock),
                            ))
                        }
                    }
                }
                None => AnyAlerter::Memory(Alerter::in_memory(
                    cfg.alerting.clone(),
                    Arc::new(SystemClock),
                )),
            };
            let worker = Worker {
                shared: self.shared.clone(),
                outputs: self.outputs.clone(),
                alerter,
                evictions_seen: 0,
                ctx: ParseContext::now_local(),
                checkpoints,
                journal_cursor: self.journal_cursor.clone(),
                source_metrics: Some(self.source_metrics.clone()),
                file_marks: std::collections::HashMap::new(),
                journal_marks: Watermark::new(),
                auditd: std::collections::HashMap::new(),
                matchers: super::matcher::MatchPool::new(super::matcher::effective_threads(
                    self.shared.cfg.match_threads,
                )),
                in_flight: std::collections::VecDeque::new(),
            };
            let packets = self.packets_rx.take().unwrap_or_else(|| mpsc::channel(1).1);
            let processes = self.process_rx.take().unwrap_or_else(|| mpsc::channel(1).1);
            self.checkpoints = worker.checkpoints.clone();
            self.worker = Some(tokio::spawn(
                worker.run(line_rx, file_rx, journal_rx, packets, processes),
            ));
            self.shared.set_health(if problems.is_empty() {
                Health::Healthy
            } else {
                let reasons: Vec<String> = problems.iter().map(|p| error_chain(p)).collect();
                Health::Degraded(reasons.join("; "))
            });
            Ok(())
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let _ = self.stop_sources.send(true);
            for s in self.sources.drain(..) {
                let _ = s.await;
            }
            // The sources dropped their senders: the worker drains what is queued, then ends.
            if let Some(w) = self.worker.take()
                && let Ok(mut w) = w.await
            {
                // What the store acknowledged meanwhile; batches whose alerts are still queued
                // for the store are read again at the next start (and stored once).
                w.advance();
            }
            if let Some(c) = &self.checkpoints
                && let Err(e) = c.save(None)
            {
                warn!(error = %e, path = %c.path().display(), "file checkpoints not saved");
            }
            // What the worker acknowledged while draining is written now, so a restart neither
            // repeats nor skips an entry.
            if let Some(c) = &self.journal_cursor
                && let Err(e) = c.save()
            {
                warn!(error = %e, path = %c.path().display(), "journald cursor not saved");
            }
            self.shared.set_health(Health::Degraded("stopped".into()));
            Ok(())
        })
    }

    fn health(&self) -> Health {
        let h = lock(&self.shared.health).clone();
        match (&h, lock(&self.shared.journald_status).as_ref()) {
            (Health::Healthy, Some(why)) => Health::Degraded(why.clone()),
            _ => h,
        }
    }
}
