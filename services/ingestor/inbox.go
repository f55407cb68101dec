package ingestor

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// handleSubmit ingests the inbox object of one ImageSubmitted event.
//
// Order of effects: the ImageIngested or ImageRejected event is published,
// then the inbox object is marked with proto.InboxMetaConsumedBy = request_id
// and deleted, then (by bus.Consume) the message is acknowledged. A crash in
// between leads to a redelivery: if the object is still there it is ingested
// again (same key, same Nats-Msg-Id: no duplicate); if it is gone and its
// delete marker names this request, the work was done and the message is
// acknowledged. An object that never existed is rejected as missing.
//
// An event that cannot be decoded, or whose request_id is unusable, is
// permanent: it is dead-lettered and its object is kept.
func (s *Service) handleSubmit(ctx context.Context, msg jetstream.Msg) error {
	var ev proto.ImageSubmitted
	if err := proto.Decode(msg.Data(), &ev); err != nil {
		return err // proto.ErrSchema: permanent
	}
	meta := Meta{
		RequestID:       ev.RequestID,
		ClientRequestID: ev.ClientRequestID,
		Source:          ev.Source,
		FileName:        ev.FileName,
		PatientID:       ev.PatientID,
		StudyID:         ev.StudyID,
		DatasetLabel:    ev.DatasetLabel,
		DatasetSplit:    ev.DatasetSplit,
		Trace:           parseTrace(msg.Headers().Get(proto.HeaderTraceParent)),
	}
	if meta.Source == "" {
		meta.Source = proto.SourcePACS
	}
	if meta.FileName == "" {
		meta.FileName = ev.InboxObject
	}
	meta, err := s.prepare(meta)
	if err != nil {
		return bus.Permanent(fmt.Errorf("submission request_id=%q: %w", ev.RequestID, err))
	}
	inbox, err := s.openInbox(ctx)
	if err != nil {
		return err
	}
	log := s.log.With(attrRequestID, meta.RequestID)

	info, err := inbox.GetInfo(ctx, ev.InboxObject)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return s.missing(ctx, inbox, ev, meta)
	}
	if err != nil {
		return fmt.Errorf("look up inbox object %q: %w", ev.InboxObject, err)
	}
	if int64(info.Size) > s.cfg.MaxBytes {
		// Rejected without downloading it.
		err = s.reject(ctx, meta, int64(info.Size), "", proto.RejectTooLarge,
			fmt.Sprintf("image is %d bytes, more than the limit of %d", info.Size, s.cfg.MaxBytes))
	} else {
		var data []byte
		data, err = inbox.GetBytes(ctx, ev.InboxObject)
		if err != nil {
			return fmt.Errorf("download inbox object %q: %w", ev.InboxObject, err)
		}
		_, _, err = s.ingest(ctx, data, "", meta)
	}
	var rej *Rejection
	if err != nil && !errors.As(err, &rej) {
		return err // temporary: retried; the object stays
	}
	if err := consume(ctx, inbox, info, meta.RequestID); err != nil {
		return fmt.Errorf("delete ingested inbox object %q: %w", ev.InboxObject, err)
	}
	log.Debug("inbox object consumed", "object", ev.InboxObject)
	return nil
}

// missing handles a submission whose inbox object does not exist.
func (s *Service) missing(ctx context.Context, inbox jetstream.ObjectStore, ev proto.ImageSubmitted, meta Meta) error {
	info, err := inbox.GetInfo(ctx, ev.InboxObject, jetstream.GetObjectInfoShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("look up inbox object %q: %w", ev.InboxObject, err)
	}
	if err == nil && info.Deleted && info.Metadata[proto.InboxMetaConsumedBy] == meta.RequestID {
		s.log.Info("submission already ingested; acknowledging redelivery", attrRequestID, meta.RequestID, "object", ev.InboxObject)
		return nil
	}
	err = s.reject(ctx, meta, 0, "", proto.RejectMissing,
		fmt.Sprintf("inbox object %q not found in object store %s (put the image there before publishing %s)", ev.InboxObject, proto.BucketInbox, proto.SubjectImageSubmit))
	var rej *Rejection
	if errors.As(err, &rej) {
		return nil
	}
	return err
}

// consume marks the object as consumed by requestID, then deletes it; the
// delete marker keeps the mark.
func consume(ctx context.Context, inbox jetstream.ObjectStore, info *jetstream.ObjectInfo, requestID string) error {
	meta := info.ObjectMeta
	md := maps.Clone(meta.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	md[proto.InboxMetaConsumedBy] = requestID
	meta.Metadata = md
	if err := inbox.UpdateMeta(ctx, info.Name, meta); err != nil && !errors.Is(err, jetstream.ErrUpdateMetaDeleted) {
		return fmt.Errorf("mark consumed: %w", err)
	}
	if err := inbox.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return err
	}
	return nil
}
